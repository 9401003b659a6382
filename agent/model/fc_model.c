// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Versioned binary model file and its C-header export. See forecast.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "forecast.h"

#define MAGIC_LEN 8
#define HDR_U32S 11
#define HDR_F64S 7
#define HDR_FIXED_LEN (HDR_U32S * 4 + HDR_F64S * 8)
#define PREAMBLE_LEN (MAGIC_LEN + 4 + 4)
/* Refuse anything bigger before allocating: the largest valid model is far smaller. */
#define MAX_FILE_LEN (64u << 20)

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_f64(uint8_t *p, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	put_u64(p, v);
}

static double get_f64(const uint8_t *p)
{
	uint64_t v = get_u64(p);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static void put_f32(uint8_t *p, float f)
{
	uint32_t v;

	memcpy(&v, &f, sizeof(v));
	put_u32(p, v);
}

static float get_f32(const uint8_t *p)
{
	uint32_t v = get_u32(p);
	float f;

	memcpy(&f, &v, sizeof(f));
	return f;
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	/* zlib's crc32 takes uInt lengths; models are far below 4 GiB anyway. */
	while (len) {
		uInt chunk = len > 0x40000000u ? 0x40000000u : (uInt)len;

		crc = crc32(crc, p, chunk);
		p += chunk;
		len -= chunk;
	}
	return (uint32_t)crc;
}

int fc_model_serialize(const struct fc_model *m, uint8_t **buf, size_t *len)
{
	size_t note_len, hdr_len, total, off;
	uint8_t *b;
	const uint32_t u[HDR_U32S - 1] = {
		m->arch.mlp,	 m->arch.hidden, m->arch.layers,   m->arch.horizon,
		m->arch.window, m->arch.season, m->arch.flags,	   (uint32_t)m->n_params,
		m->prep.norm,	 m->prep.impute,
	};
	const double d[HDR_F64S] = { m->prep.winsor_lo_pct, m->prep.winsor_hi_pct, m->prep.clip_lo,
				     m->prep.clip_hi,	    m->prep.mean,	   m->prep.min,
				     m->prep.max };

	if (!m || !m->params || !buf || !len)
		return -EINVAL;
	note_len = strnlen(m->note, FC_MAX_NOTE);
	hdr_len = HDR_FIXED_LEN + note_len;
	total = PREAMBLE_LEN + hdr_len + m->n_params * 4 + 4;
	b = malloc(total);
	if (!b)
		return -ENOMEM;
	memcpy(b, FC_MODEL_MAGIC, MAGIC_LEN); /* includes the terminating NUL */
	put_u32(b + 8, FC_MODEL_VERSION);
	put_u32(b + 12, (uint32_t)hdr_len);
	off = PREAMBLE_LEN;
	for (int i = 0; i < HDR_U32S - 1; i++, off += 4)
		put_u32(b + off, u[i]);
	put_u32(b + off, (uint32_t)note_len);
	off += 4;
	for (int i = 0; i < HDR_F64S; i++, off += 8)
		put_f64(b + off, d[i]);
	memcpy(b + off, m->note, note_len);
	off += note_len;
	for (size_t i = 0; i < m->n_params; i++, off += 4)
		put_f32(b + off, m->params[i]);
	put_u32(b + off, crc_of(b, off));
	*buf = b;
	*len = total;
	return 0;
}

#define FAIL(code, ...)                                     \
	do {                                                \
		qlb_error_set(err, 0, __VA_ARGS__);     \
		return (code);                              \
	} while (0)

int fc_model_deserialize(struct fc_model *m, const void *buf, size_t len, struct qlb_error *err)
{
	const uint8_t *b = buf;
	struct fc_arch a;
	struct fc_prep p;
	uint32_t version, hdr_len, n_params, note_len, stored_crc;
	size_t expect, off;
	int rc;

	if (err)
		err->msg[0] = '\0';
	if (!m)
		FAIL(-EINVAL, "no model to load into");
	memset(m, 0, sizeof(*m));
	if (!b && len)
		FAIL(-EINVAL, "no buffer");
	if (len < MAGIC_LEN && (len == 0 || memcmp(b, FC_MODEL_MAGIC, len) == 0))
		FAIL(-EBADMSG, "truncated: %zu bytes, shorter than the magic", len);
	if (len < MAGIC_LEN || memcmp(b, FC_MODEL_MAGIC, MAGIC_LEN) != 0)
		FAIL(-EBADMSG, "not a qlb forecast model (bad magic)");
	if (len < PREAMBLE_LEN)
		FAIL(-EBADMSG, "truncated: %zu bytes, header missing", len);
	version = get_u32(b + 8);
	if (version != FC_MODEL_VERSION)
		FAIL(-EPROTONOSUPPORT, "unsupported model version %u (this build reads %u)",
		     version, FC_MODEL_VERSION);
	hdr_len = get_u32(b + 12);
	if (hdr_len < HDR_FIXED_LEN || hdr_len > HDR_FIXED_LEN + FC_MAX_NOTE)
		FAIL(-EBADMSG, "header length %u out of range %u..%u", hdr_len, HDR_FIXED_LEN,
		     HDR_FIXED_LEN + FC_MAX_NOTE);
	if (len < PREAMBLE_LEN + (size_t)hdr_len)
		FAIL(-EBADMSG, "truncated: %zu bytes, header needs %zu", len,
		     (size_t)PREAMBLE_LEN + hdr_len);

	off = PREAMBLE_LEN;
	a.mlp = get_u32(b + off);
	a.hidden = get_u32(b + off + 4);
	a.layers = get_u32(b + off + 8);
	a.horizon = get_u32(b + off + 12);
	a.window = get_u32(b + off + 16);
	a.season = get_u32(b + off + 20);
	a.flags = get_u32(b + off + 24);
	n_params = get_u32(b + off + 28);
	memset(&p, 0, sizeof(p));
	p.norm = get_u32(b + off + 32);
	p.impute = get_u32(b + off + 36);
	note_len = get_u32(b + off + 40);
	off += HDR_U32S * 4;
	p.winsor_lo_pct = get_f64(b + off);
	p.winsor_hi_pct = get_f64(b + off + 8);
	p.clip_lo = get_f64(b + off + 16);
	p.clip_hi = get_f64(b + off + 24);
	p.mean = get_f64(b + off + 32);
	p.min = get_f64(b + off + 40);
	p.max = get_f64(b + off + 48);
	off += HDR_F64S * 8;

	if (note_len != hdr_len - HDR_FIXED_LEN)
		FAIL(-EBADMSG, "note length %u does not match header length %u", note_len,
		     hdr_len);
	rc = fc_arch_validate(&a, err);
	if (rc)
		return rc;
	if (n_params != fc_arch_param_count(&a))
		FAIL(-EINVAL, "parameter count %u does not match the architecture (%zu)", n_params,
		     fc_arch_param_count(&a));
	expect = PREAMBLE_LEN + (size_t)hdr_len + (size_t)n_params * 4 + 4;
	if (len < expect)
		FAIL(-EBADMSG, "truncated: %zu bytes, model needs %zu", len, expect);
	if (len > expect)
		FAIL(-EBADMSG, "%zu trailing bytes after the model", len - expect);
	stored_crc = get_u32(b + expect - 4);
	if (stored_crc != crc_of(b, expect - 4))
		FAIL(-EBADMSG, "CRC mismatch (stored %08x, computed %08x): file corrupt",
		     stored_crc, crc_of(b, expect - 4));
	rc = fc_prep_validate(&p, err);
	if (rc)
		return rc;

	rc = fc_model_alloc_internal(m, &a);
	if (rc)
		FAIL(rc, "cannot allocate %u parameters", n_params);
	m->prep = p;
	memcpy(m->note, b + off, note_len);
	m->note[note_len] = '\0';
	off += note_len;
	for (size_t i = 0; i < n_params; i++, off += 4) {
		m->params[i] = get_f32(b + off);
		if (!isfinite(m->params[i])) {
			fc_model_free(m);
			FAIL(-EINVAL, "weight %zu is not finite", i);
		}
	}
	return 0;
}

int fc_model_save(const struct fc_model *m, const char *path, struct qlb_error *err)
{
	uint8_t *buf;
	size_t len;
	FILE *f;
	int rc = fc_model_serialize(m, &buf, &len);

	if (rc) {
		qlb_error_set(err, 0, "cannot serialise model: %s", strerror(-rc));
		return rc;
	}
	f = fopen(path, "wb");
	if (!f) {
		rc = -errno;
		qlb_error_set(err, 0, "%s: %s", path, strerror(errno));
		free(buf);
		return rc;
	}
	if (fwrite(buf, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	free(buf);
	if (rc)
		qlb_error_set(err, 0, "%s: write failed: %s", path, strerror(-rc));
	return rc;
}

int fc_model_load(struct fc_model *m, const char *path, struct qlb_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	struct qlb_error why = {};
	FILE *f = fopen(path, "rb");
	int rc;

	memset(m, 0, sizeof(*m));
	if (!f) {
		rc = -errno;
		qlb_error_set(err, 0, "%s: %s", path, strerror(errno));
		return rc;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			uint8_t *nb;

			if (cap >= MAX_FILE_LEN) {
				fclose(f);
				free(buf);
				qlb_error_set(err, 0, "%s: too large for a model", path);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				fclose(f);
				free(buf);
				qlb_error_set(err, 0, "%s: out of memory", path);
				return -ENOMEM;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		qlb_error_set(err, 0, "%s: read error", path);
		return -EIO;
	}
	fclose(f);
	rc = fc_model_deserialize(m, buf, len, &why);
	free(buf);
	if (rc)
		qlb_error_set(err, 0, "%.60s: %s", path, why.msg);
	return rc;
}

/* Keeps a provenance string safe inside a C comment. */
static void put_comment_text(FILE *f, const char *s)
{
	for (char prev = 0; *s; prev = *s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch > 0x7e)
			ch = ' ';
		if (prev == '*' && ch == '/')
			ch = ' ';
		fputc(ch, f);
	}
}

int fc_model_export_header_named(const struct fc_model *m, FILE *f, const char *symbol,
				 const char *comment)
{
	uint8_t *buf;
	size_t len;
	int rc = fc_model_serialize(m, &buf, &len);

	if (rc)
		return rc;
	fprintf(f, "/* Generated by `qlb forecast export`; do not edit.\n");
	if (m->note[0]) {
		fprintf(f, " * Trained with: ");
		put_comment_text(f, m->note);
		fprintf(f, "\n");
	}
	if (comment && comment[0]) {
		fprintf(f, " * ");
		put_comment_text(f, comment);
		fprintf(f, "\n");
	}
	fprintf(f,
		" * Model: mlp %u, hidden %u, layers %u, horizon %u, window %u, season %u,\n"
		" * %s, %s%s, winsorised to [%.6g, %.6g]; %zu parameters, %zu bytes.\n"
		" * Load with fc_model_deserialize(&m, %s, %s_len, err). */\n",
		m->arch.mlp, m->arch.hidden, m->arch.layers, m->arch.horizon, m->arch.window,
		m->arch.season, m->prep.norm == FC_NORM_LOG1P_MINMAX ? "log1p+min-max" : "min-max",
		(m->arch.flags & FC_ARCH_RESIDUAL) ? "residual head" : "direct head",
		(m->arch.flags & FC_ARCH_DIFF_INPUT) ? ", diff input" : "",
		m->prep.clip_lo, m->prep.clip_hi, m->n_params, len, symbol, symbol);
	fprintf(f, "#ifndef QLB_FC_MODEL_%s_H\n#define QLB_FC_MODEL_%s_H\n\n#include <stddef.h>\n\n",
		symbol, symbol);
	fprintf(f, "static const unsigned char %s[%zu] = {", symbol, len);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%s0x%02x,", i % 12 ? " " : "\n\t", buf[i]);
	fprintf(f, "\n};\n\nstatic const size_t %s_len = sizeof(%s);\n\n#endif\n", symbol, symbol);
	free(buf);
	return ferror(f) ? -EIO : 0;
}

int fc_model_export_header(const struct fc_model *m, FILE *f)
{
	return fc_model_export_header_named(m, f, "qlb_default_model", NULL);
}
