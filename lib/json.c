// SPDX-License-Identifier: GPL-2.0-only
/* Minimal JSON writer and parser for the control protocol. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/json.h>

/* ------------------------------------------------------------ writer --- */

void jb_init(struct jbuf *jb)
{
	memset(jb, 0, sizeof(*jb));
}

void jb_free(struct jbuf *jb)
{
	free(jb->buf);
	memset(jb, 0, sizeof(*jb));
}

static void jb_append(struct jbuf *jb, const char *s, size_t n)
{
	if (jb->err)
		return;
	if (jb->len + n + 1 > jb->cap) {
		size_t cap = jb->cap ? jb->cap : 256;
		char *p;

		while (cap < jb->len + n + 1)
			cap *= 2;
		p = realloc(jb->buf, cap);
		if (!p) {
			jb->err = -ENOMEM;
			return;
		}
		jb->buf = p;
		jb->cap = cap;
	}
	memcpy(jb->buf + jb->len, s, n);
	jb->len += n;
	jb->buf[jb->len] = '\0';
}

void jb_raw(struct jbuf *jb, const char *s)
{
	jb_append(jb, s, strlen(s));
}

static void jb_escaped(struct jbuf *jb, const char *s)
{
	char tmp[8];

	jb_append(jb, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			jb_append(jb, tmp, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			jb_append(jb, tmp, 6);
		} else {
			jb_append(jb, (const char *)&c, 1);
		}
	}
	jb_append(jb, "\"", 1);
}

void jb_key(struct jbuf *jb, const char *key)
{
	if (jb->comma)
		jb_append(jb, ",", 1);
	jb->comma = true;
	if (key) {
		jb_escaped(jb, key);
		jb_append(jb, ":", 1);
	}
}

void jb_obj_begin(struct jbuf *jb)
{
	jb_append(jb, "{", 1);
	jb->comma = false;
}

void jb_obj_end(struct jbuf *jb)
{
	jb_append(jb, "}", 1);
	jb->comma = true;
}

void jb_arr_begin(struct jbuf *jb)
{
	jb_append(jb, "[", 1);
	jb->comma = false;
}

void jb_arr_end(struct jbuf *jb)
{
	jb_append(jb, "]", 1);
	jb->comma = true;
}

void jb_str(struct jbuf *jb, const char *key, const char *val)
{
	jb_key(jb, key);
	jb_escaped(jb, val ? val : "");
}

void jb_u64(struct jbuf *jb, const char *key, uint64_t val)
{
	char tmp[32];

	jb_key(jb, key);
	snprintf(tmp, sizeof(tmp), "%" PRIu64, val);
	jb_raw(jb, tmp);
}

void jb_i64(struct jbuf *jb, const char *key, int64_t val)
{
	char tmp[32];

	jb_key(jb, key);
	snprintf(tmp, sizeof(tmp), "%" PRId64, val);
	jb_raw(jb, tmp);
}

void jb_bool(struct jbuf *jb, const char *key, bool val)
{
	jb_key(jb, key);
	jb_raw(jb, val ? "true" : "false");
}

void jb_dbl(struct jbuf *jb, const char *key, double val)
{
	char tmp[64];

	jb_key(jb, key);
	snprintf(tmp, sizeof(tmp), "%.3f", val);
	jb_raw(jb, tmp);
}

/* ------------------------------------------------------------ parser --- */

struct jparse {
	const char *p;
	const char *end;
};

static void jp_ws(struct jparse *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
				   *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static int jp_lit(struct jparse *jp, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, lit, n))
		return -EINVAL;
	jp->p += n;
	return 0;
}

static int jp_hex4(const char *p, unsigned int *out)
{
	unsigned int v = 0, i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Strings: escapes decoded; \u above 0x7f becomes '?' (we only need ASCII). */
static int jp_string(struct jparse *jp, char **out)
{
	const char *start;
	char *s;
	size_t n = 0;

	if (jp->p >= jp->end || *jp->p != '"')
		return -EINVAL;
	start = ++jp->p;
	/* worst case: output no longer than input */
	while (jp->p < jp->end && *jp->p != '"') {
		if (*jp->p == '\\' && jp->end - jp->p > 1)
			jp->p++;
		jp->p++;
	}
	if (jp->p >= jp->end)
		return -EINVAL;
	s = malloc((size_t)(jp->p - start) + 1);
	if (!s)
		return -ENOMEM;
	jp->p = start;
	while (*jp->p != '"') {
		unsigned char c = (unsigned char)*jp->p++;

		if (c < 0x20) {
			free(s);
			return -EINVAL;
		}
		if (c != '\\') {
			s[n++] = (char)c;
			continue;
		}
		c = (unsigned char)*jp->p++;
		switch (c) {
		case '"': case '\\': case '/':
			s[n++] = (char)c;
			break;
		case 'b':
			s[n++] = '\b';
			break;
		case 'f':
			s[n++] = '\f';
			break;
		case 'n':
			s[n++] = '\n';
			break;
		case 'r':
			s[n++] = '\r';
			break;
		case 't':
			s[n++] = '\t';
			break;
		case 'u': {
			unsigned int v;

			if (jp->end - jp->p < 4 || jp_hex4(jp->p, &v)) {
				free(s);
				return -EINVAL;
			}
			jp->p += 4;
			s[n++] = (v && v < 0x80) ? (char)v : '?';
			break;
		}
		default:
			free(s);
			return -EINVAL;
		}
	}
	jp->p++;
	s[n] = '\0';
	*out = s;
	return 0;
}

static int jp_number(struct jparse *jp, double *out)
{
	char tmp[64], *endp;
	size_t n = 0;

	/* strchr() finds the terminator too: a NUL is not a digit */
	while (jp->p + n < jp->end && n < sizeof(tmp) - 1 && jp->p[n] &&
	       strchr("+-0123456789.eE", jp->p[n]))
		n++;
	if (!n || n == sizeof(tmp) - 1)
		return -EINVAL;
	memcpy(tmp, jp->p, n);
	tmp[n] = '\0';
	*out = strtod(tmp, &endp);
	if (*endp)
		return -EINVAL;
	jp->p += n;
	return 0;
}

static int jp_value(struct jparse *jp, struct json **out, int depth);

static int jp_container(struct jparse *jp, struct json *v, int depth)
{
	bool obj = v->type == JSON_OBJ;
	char close = obj ? '}' : ']';
	struct json **tail = &v->child;
	int ret;

	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		struct json *c;

		jp_ws(jp);
		if (obj) {
			ret = jp_string(jp, &key);
			if (ret)
				return ret;
			jp_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				return -EINVAL;
			}
			jp->p++;
		}
		ret = jp_value(jp, &c, depth + 1);
		if (ret) {
			free(key);
			return ret;
		}
		c->key = key;
		*tail = c;
		tail = &c->next;
		jp_ws(jp);
		if (jp->p >= jp->end)
			return -EINVAL;
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p != close)
			return -EINVAL;
		jp->p++;
		return 0;
	}
}

static int jp_value(struct jparse *jp, struct json **out, int depth)
{
	struct json *v;
	int ret = 0;

	if (depth > JSON_MAX_DEPTH)
		return -EINVAL;
	jp_ws(jp);
	if (jp->p >= jp->end)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	switch (*jp->p) {
	case '{':
		v->type = JSON_OBJ;
		ret = jp_container(jp, v, depth);
		break;
	case '[':
		v->type = JSON_ARR;
		ret = jp_container(jp, v, depth);
		break;
	case '"':
		v->type = JSON_STR;
		ret = jp_string(jp, &v->str);
		break;
	case 't':
		v->type = JSON_BOOL;
		v->b = true;
		ret = jp_lit(jp, "true");
		break;
	case 'f':
		v->type = JSON_BOOL;
		ret = jp_lit(jp, "false");
		break;
	case 'n':
		v->type = JSON_NULL;
		ret = jp_lit(jp, "null");
		break;
	default:
		v->type = JSON_NUM;
		ret = jp_number(jp, &v->num);
		break;
	}
	if (ret) {
		json_free(v);
		return ret;
	}
	*out = v;
	return 0;
}

int json_parse(const char *text, size_t len, struct json **out)
{
	struct jparse jp = { .p = text, .end = text + len };
	struct json *v;
	int ret;

	*out = NULL;
	if (len > JSON_MAX_INPUT)
		return -EINVAL;
	ret = jp_value(&jp, &v, 0);
	if (ret)
		return ret;
	jp_ws(&jp);
	if (jp.p != jp.end) {
		json_free(v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

void json_free(struct json *v)
{
	while (v) {
		struct json *next = v->next;

		json_free(v->child);
		free(v->str);
		free(v->key);
		free(v);
		v = next;
	}
}

const struct json *json_get(const struct json *obj, const char *key)
{
	const struct json *c;

	if (!obj || obj->type != JSON_OBJ)
		return NULL;
	for (c = obj->child; c; c = c->next)
		if (c->key && !strcmp(c->key, key))
			return c;
	return NULL;
}

const char *json_get_str(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_STR ? v->str : NULL;
}

double json_get_num(const struct json *obj, const char *key, double def)
{
	const struct json *v = json_get(obj, key);

	return v && v->type == JSON_NUM ? v->num : def;
}
