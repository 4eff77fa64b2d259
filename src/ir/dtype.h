/* Tensor element types.  Values are ONNX's TensorProto.DataType numbers so
 * that conversion to and from files is the identity. */
#ifndef PX_DTYPE_H
#define PX_DTYPE_H

#include <stddef.h>

typedef enum px_dtype {
    PX_DT_UNDEFINED = 0,
    PX_DT_FLOAT = 1,
    PX_DT_UINT8 = 2,
    PX_DT_INT8 = 3,
    PX_DT_UINT16 = 4,
    PX_DT_INT16 = 5,
    PX_DT_INT32 = 6,
    PX_DT_INT64 = 7,
    PX_DT_STRING = 8,
    PX_DT_BOOL = 9,
    PX_DT_FLOAT16 = 10,
    PX_DT_DOUBLE = 11,
    PX_DT_UINT32 = 12,
    PX_DT_UINT64 = 13,
    PX_DT_COMPLEX64 = 14,
    PX_DT_COMPLEX128 = 15,
    PX_DT_BFLOAT16 = 16,
    PX_DT_FLOAT8E4M3FN = 17,
    PX_DT_FLOAT8E4M3FNUZ = 18,
    PX_DT_FLOAT8E5M2 = 19,
    PX_DT_FLOAT8E5M2FNUZ = 20,
    PX_DT_UINT4 = 21,
    PX_DT_INT4 = 22,
    PX_DT_FLOAT4E2M1 = 23,
    PX_DT_COUNT
} px_dtype;

/* Lower-case name as numpy spells it ("float32", "int64", "bool", ...);
 * "undefined" for PX_DT_UNDEFINED and out-of-range values. */
const char *px_dtype_name(int dt);
/* Inverse of px_dtype_name; PX_DT_UNDEFINED when unknown. */
px_dtype px_dtype_from_name(const char *name);
/* Whether dt is a known element type (1..PX_DT_COUNT-1). */
int px_dtype_valid(int dt);
/* Storage bits per element (4 for the 4-bit types, 0 for STRING/UNDEFINED). */
int px_dtype_bits(px_dtype dt);
int px_dtype_is_float(px_dtype dt);   /* any floating type incl. fp8/bf16 */
int px_dtype_is_int(px_dtype dt);     /* signed or unsigned integer, not bool */
/* Bytes needed for numel elements (rounding up sub-byte types); returns
 * (size_t)-1 on overflow or for STRING. */
size_t px_dtype_nbytes(px_dtype dt, long long numel);

#endif
