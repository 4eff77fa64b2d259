#include "ir/dtype.h"

#include <stdint.h>
#include <string.h>

static const struct {
    const char *name;
    int bits;
    char kind; /* 'f' float, 'i' int, 'u' unsigned, 'b' bool, 's' string, 'c' complex */
} dtype_table[PX_DT_COUNT] = {
    [PX_DT_UNDEFINED] = {"undefined", 0, 0},
    [PX_DT_FLOAT] = {"float32", 32, 'f'},
    [PX_DT_UINT8] = {"uint8", 8, 'u'},
    [PX_DT_INT8] = {"int8", 8, 'i'},
    [PX_DT_UINT16] = {"uint16", 16, 'u'},
    [PX_DT_INT16] = {"int16", 16, 'i'},
    [PX_DT_INT32] = {"int32", 32, 'i'},
    [PX_DT_INT64] = {"int64", 64, 'i'},
    [PX_DT_STRING] = {"string", 0, 's'},
    [PX_DT_BOOL] = {"bool", 8, 'b'},
    [PX_DT_FLOAT16] = {"float16", 16, 'f'},
    [PX_DT_DOUBLE] = {"float64", 64, 'f'},
    [PX_DT_UINT32] = {"uint32", 32, 'u'},
    [PX_DT_UINT64] = {"uint64", 64, 'u'},
    [PX_DT_COMPLEX64] = {"complex64", 64, 'c'},
    [PX_DT_COMPLEX128] = {"complex128", 128, 'c'},
    [PX_DT_BFLOAT16] = {"bfloat16", 16, 'f'},
    [PX_DT_FLOAT8E4M3FN] = {"float8e4m3fn", 8, 'f'},
    [PX_DT_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 8, 'f'},
    [PX_DT_FLOAT8E5M2] = {"float8e5m2", 8, 'f'},
    [PX_DT_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 8, 'f'},
    [PX_DT_UINT4] = {"uint4", 4, 'u'},
    [PX_DT_INT4] = {"int4", 4, 'i'},
    [PX_DT_FLOAT4E2M1] = {"float4e2m1", 4, 'f'},
};

int px_dtype_valid(int dt) { return dt > 0 && dt < PX_DT_COUNT; }

const char *px_dtype_name(int dt)
{
    return px_dtype_valid(dt) ? dtype_table[dt].name : "undefined";
}

px_dtype px_dtype_from_name(const char *name)
{
    for (int i = 1; i < PX_DT_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0) return (px_dtype)i;
    return PX_DT_UNDEFINED;
}

int px_dtype_bits(px_dtype dt) { return px_dtype_valid(dt) ? dtype_table[dt].bits : 0; }

int px_dtype_is_float(px_dtype dt) { return px_dtype_valid(dt) && dtype_table[dt].kind == 'f'; }

int px_dtype_is_int(px_dtype dt)
{
    return px_dtype_valid(dt) && (dtype_table[dt].kind == 'i' || dtype_table[dt].kind == 'u');
}

size_t px_dtype_nbytes(px_dtype dt, long long numel)
{
    int bits = px_dtype_bits(dt);
    if (bits == 0 || numel < 0) return (size_t)-1;
    if ((unsigned long long)numel > SIZE_MAX / 16) return (size_t)-1;
    return ((size_t)numel * (size_t)bits + 7) / 8;
}
