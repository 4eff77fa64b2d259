"""The C half of `pip install .` (the rest is in pyproject.toml): builds
the proteus tool with make into build/pip/c (the normal build/ outputs are
left alone) and ships it in the wheel as proteus/_bin/proteus, with the
Python half (python/proteus_py) as proteus/_py/proteus_py.  The binary finds
its Python half next to itself (src/util/pyenv.c); nothing refers to the
source tree once installed.  PROTEUS_MAKE_JOBS sets make's -j (default 2)."""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
PIP_BUILD = os.path.join("build", "pip")  # setuptools' own build and egg-info folders, too
C_BUILD = os.path.join(PIP_BUILD, "c")


class BuildPyWithC(build_py):
    def run(self):
        super().run()
        jobs = os.environ.get("PROTEUS_MAKE_JOBS", "2")
        exe = os.path.join(C_BUILD, "proteus")
        # -O2 without -g: no debug info (and so no build path) in the shipped binary
        make = ["make", "-C", HERE, f"BUILD={C_BUILD}", "OPT=-O2"]
        # the generated protobuf-c sources first, alone: in a fresh build folder
        # make -j would run their two-target rule twice at once
        subprocess.run([*make, os.path.join(C_BUILD, "gen", "onnx.pb-c.h")], check=True)
        subprocess.run([*make, f"-j{jobs}", exe, os.path.join(C_BUILD, "libproteus.a")], check=True)
        pkg = os.path.join(self.build_lib, "proteus")
        os.makedirs(os.path.join(pkg, "_bin"), exist_ok=True)
        shutil.copy2(os.path.join(HERE, exe), os.path.join(pkg, "_bin", "proteus"))
        py = os.path.join(pkg, "_py", "proteus_py")
        shutil.rmtree(py, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, "python", "proteus_py"), py,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # the learned sentinel generator's model, where the binary looks for it
        # beside its Python half (px_generator_default_path: <pkg>/data/generator)
        gen = os.path.join(pkg, "data", "generator")
        shutil.rmtree(gen, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, "data", "generator"), gen)


class SdistWithC(sdist):
    """The source distribution carries what make needs to build the tool."""

    def make_distribution(self):
        keep = ("Makefile", "VERSION", "README.md", "pyproject.toml", "setup.py")
        self.filelist.extend(f for f in keep if os.path.exists(os.path.join(HERE, f)))
        for top in ("src", os.path.join("python", "proteus_py"), os.path.join("data", "generator")):
            for d, dirs, files in os.walk(os.path.join(HERE, top)):
                dirs[:] = [x for x in dirs if x != "__pycache__"]
                rel = os.path.relpath(d, HERE)
                self.filelist.extend(os.path.join(rel, f) for f in files if not f.endswith(".pyc"))
        super().make_distribution()


class BinaryDistribution(Distribution):
    """The wheel holds a native executable: platform-tagged, not pure."""

    def has_ext_modules(self):
        return True


os.makedirs(os.path.join(HERE, PIP_BUILD), exist_ok=True)
setup(
    cmdclass={"build_py": BuildPyWithC, "sdist": SdistWithC},
    distclass=BinaryDistribution,
    options={"build": {"build_base": PIP_BUILD}, "egg_info": {"egg_base": PIP_BUILD}},
)
