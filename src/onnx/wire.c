#include "onnx/wire.h"

static int get_varint(px_wire *w, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end) return -1;
        uint8_t b = *w->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

int px_wire_next(px_wire *w, px_wire_field *f)
{
    if (w->p >= w->end) return 0;
    f->start = w->p;
    uint64_t tag;
    if (get_varint(w, &tag)) return -1;
    f->number = (uint32_t)(tag >> 3);
    f->wire_type = (int)(tag & 7);
    if (f->number == 0 || (tag >> 3) > 0x1fffffff) return -1;
    f->varint = 0;
    switch (f->wire_type) {
    case 0:
        f->value = w->p;
        if (get_varint(w, &f->varint)) return -1;
        f->value_len = (size_t)(w->p - f->value);
        break;
    case 1:
    case 5: {
        size_t n = f->wire_type == 1 ? 8 : 4;
        if ((size_t)(w->end - w->p) < n) return -1;
        f->value = w->p;
        f->value_len = n;
        w->p += n;
        break;
    }
    case 2: {
        uint64_t len;
        if (get_varint(w, &len)) return -1;
        if (len > (uint64_t)(w->end - w->p)) return -1;
        f->value = w->p;
        f->value_len = (size_t)len;
        w->p += len;
        break;
    }
    default:
        return -1; /* groups (3, 4) never occur in ONNX */
    }
    f->total_len = (size_t)(w->p - f->start);
    return 1;
}

size_t px_wire_put_varint(uint8_t *buf, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        buf[n++] = b | (v ? 0x80 : 0);
    } while (v);
    return n;
}
