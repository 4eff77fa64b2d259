/* A minimal protobuf wire-format walker.  The loader uses it to split a
 * ModelProto into pieces before unpacking, so that large initializers are
 * unpacked one at a time (peak memory near 1x the file, not 2x) and fields
 * the IR does not model can be kept verbatim. */
#ifndef PX_WIRE_H
#define PX_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef struct px_wire {
    const uint8_t *p, *end;
} px_wire;

typedef struct px_wire_field {
    uint32_t number;
    int wire_type;          /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    const uint8_t *start;   /* first byte of the tag */
    const uint8_t *value;   /* payload (for wire type 2: the bytes) */
    size_t value_len;       /* payload length */
    size_t total_len;       /* tag + length prefix + payload */
    uint64_t varint;        /* wire type 0 value */
} px_wire_field;

/* Returns 1 and fills f for the next field, 0 at the clean end, -1 on a
 * malformed or truncated encoding. */
int px_wire_next(px_wire *w, px_wire_field *f);

/* Appends an encoded varint to buf (at least 10 bytes free); returns bytes. */
size_t px_wire_put_varint(uint8_t *buf, uint64_t v);

#endif
