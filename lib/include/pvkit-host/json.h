/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Just enough JSON for the pvkit control protocol: a bounded writer and a
 * small DOM parser that rejects anything malformed, too deep or too big.
 */
#ifndef PVKIT_HOST_JSON_H
#define PVKIT_HOST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH	16
#define JSON_MAX_INPUT	(1024 * 1024)

/* ------------------------------------------------------------ writer --- */

struct jbuf {
	char *buf;
	size_t len;
	size_t cap;
	int err;	/* -ENOMEM once an append failed; sticky */
	bool comma;	/* a value precedes at this level */
};

void jb_init(struct jbuf *jb);
void jb_free(struct jbuf *jb);
void jb_raw(struct jbuf *jb, const char *s);
void jb_obj_begin(struct jbuf *jb);
void jb_obj_end(struct jbuf *jb);
void jb_arr_begin(struct jbuf *jb);
void jb_arr_end(struct jbuf *jb);
/* @key may be NULL inside an array. */
void jb_key(struct jbuf *jb, const char *key);
void jb_str(struct jbuf *jb, const char *key, const char *val);
void jb_u64(struct jbuf *jb, const char *key, uint64_t val);
void jb_i64(struct jbuf *jb, const char *key, int64_t val);
void jb_bool(struct jbuf *jb, const char *key, bool val);
void jb_dbl(struct jbuf *jb, const char *key, double val);

/* ------------------------------------------------------------ parser --- */

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUM,
	JSON_STR,
	JSON_ARR,
	JSON_OBJ,
};

struct json {
	enum json_type type;
	bool b;
	double num;
	char *str;		/* JSON_STR */
	char *key;		/* member name inside an object */
	struct json *child;	/* first element / member */
	struct json *next;	/* next sibling */
};

/*
 * Parse @len bytes (one value, optional surrounding white space).
 * Returns 0 and *@out, or -EINVAL (malformed, too deep, too big) or
 * -ENOMEM.
 */
int json_parse(const char *text, size_t len, struct json **out);
void json_free(struct json *v);

/* Member @key of object @obj, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* Convenience: string member or NULL; number member or @def. */
const char *json_get_str(const struct json *obj, const char *key);
double json_get_num(const struct json *obj, const char *key, double def);

#endif /* PVKIT_HOST_JSON_H */
