// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The option tables' parser and help (opts.h). */
#include <errno.h>
#include <string.h>

#include "opts.h"
#include "log.h"
#include "parse.h"

#define HELP_COLUMN 30

static unsigned int count_opts(const struct qlb_opt *o)
{
	unsigned int n = 0;

	while (o[n].name)
		n++;
	return n;
}

static const struct qlb_opt *find_long(const struct qlb_opt *opts, const char *name,
				       size_t len)
{
	for (; opts->name; opts++)
		if (opts->type != QLB_OPT_SECTION && strlen(opts->name) == len &&
		    !strncmp(opts->name, name, len))
			return opts;
	return NULL;
}

static const struct qlb_opt *find_short(const struct qlb_opt *opts, char c)
{
	for (; opts->name; opts++)
		if (opts->short_name && opts->short_name == c)
			return opts;
	return NULL;
}

/* "a, b or c" from a choice list. */
static void choice_names(const struct qlb_opt_choice *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; c[i].name && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i == 0 ? "" : c[i + 1].name ? ", " : " or ",
			      c[i].name);
}

static int bad_value(const struct qlb_opt *o, const char *value, const char *want)
{
	qlb_err("bad --%s '%s': %s", o->name, value, want);
	return -EINVAL;
}

static int set_value(const struct qlb_opt *o, const char *value, void *base)
{
	void *dst = (char *)base + o->off;
	char why[160] = "";
	int err;

	switch (o->type) {
	case QLB_OPT_FLAG:
		*(int *)dst = 1;
		return 0;
	case QLB_OPT_STR:
		if (!*value)
			return bad_value(o, value, "want a value");
		*(const char **)dst = value;
		return 0;
	case QLB_OPT_STRBUF:
		if (!*value)
			return bad_value(o, value, "want a value");
		if (strlen(value) >= (size_t)o->max) {
			snprintf(why, sizeof(why), "longer than %d characters", (int)o->max - 1);
			return bad_value(o, value, why);
		}
		memcpy(dst, value, strlen(value) + 1);
		return 0;
	case QLB_OPT_LIST: {
		struct qlb_opt_list *l = dst;

		if (!*value)
			return bad_value(o, value, "want a value");
		if (l->n == QLB_OPT_LIST_MAX) {
			qlb_err("--%s given more than %d times", o->name, QLB_OPT_LIST_MAX);
			return -EINVAL;
		}
		l->v[l->n++] = value;
		return 0;
	}
	case QLB_OPT_U32:
	case QLB_OPT_U64: {
		uint64_t v;

		/* UINT64_MAX rounds up to 2^64 as a double, beyond uint64_t. */
		uint64_t max = o->max >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)o->max;

		err = qlb_parse_u64(value, (uint64_t)o->min, max, &v);
		if (err) {
			snprintf(why, sizeof(why), "want a whole number from %llu to %llu",
				 (unsigned long long)o->min, (unsigned long long)max);
			return bad_value(o, value, why);
		}
		if (o->type == QLB_OPT_U32)
			*(uint32_t *)dst = (uint32_t)v;
		else
			*(uint64_t *)dst = v;
		return 0;
	}
	case QLB_OPT_DOUBLE:
		err = qlb_parse_double(value, o->min, o->max, (double *)dst);
		if (err) {
			snprintf(why, sizeof(why), "want a number from %g to %g", o->min, o->max);
			return bad_value(o, value, why);
		}
		return 0;
	case QLB_OPT_CHOICE:
		for (const struct qlb_opt_choice *c = o->choices; c->name; c++)
			if (!strcmp(c->name, value)) {
				*(int *)dst = c->value;
				return 0;
			}
		strcpy(why, "want ");
		choice_names(o->choices, why + 5, sizeof(why) - 5);
		return bad_value(o, value, why);
	case QLB_OPT_CUSTOM:
		err = o->parse(value, dst, why, sizeof(why));
		if (err)
			return bad_value(o, value, why[0] ? why : strerror(-err));
		return 0;
	case QLB_OPT_SECTION:
		break;
	}
	return -EINVAL;
}

/* Counts one more use of o; refuses a second use of a single-valued option
 * and a use of two options of one group. */
static int note_seen(const struct qlb_cmd_spec *spec, const struct qlb_opt *o,
		     struct qlb_opts_result *res)
{
	unsigned int i = (unsigned int)(o - spec->opts);

	if (res->seen[i] && !(o->flags & QLB_OPT_F_REPEAT)) {
		qlb_err("--%s given twice", o->name);
		return -EINVAL;
	}
	if (o->group)
		for (const struct qlb_opt *p = spec->opts; p->name; p++)
			if (p != o && p->group == o->group && res->seen[p - spec->opts]) {
				qlb_err("--%s and --%s exclude each other", p->name, o->name);
				return -EINVAL;
			}
	res->seen[i]++;
	return 0;
}

static int takes_value(const struct qlb_opt *o)
{
	return o->type != QLB_OPT_FLAG;
}

int qlb_opts_parse(const struct qlb_cmd_spec *spec, int argc, char **argv, void *base,
		   struct qlb_opts_result *res)
{
	int i, only_pos = 0;

	memset(res, 0, sizeof(*res));
	if (count_opts(spec->opts) > sizeof(res->seen) / sizeof(res->seen[0]))
		return -E2BIG;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL;
		const struct qlb_opt *o;
		int err;

		if (only_pos || a[0] != '-' || !a[1]) {
			if (spec->stop_at_pos) {
				res->next = i;
				return 0;
			}
			if (res->npos == spec->max_pos ||
			    res->npos == sizeof(res->pos) / sizeof(res->pos[0])) {
				qlb_err("unexpected argument '%s' (see qlb %s --help)", a, spec->name);
				return -EINVAL;
			}
			res->pos[res->npos++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			if (len == 4 && !strncmp(a + 2, "help", 4)) {
				qlb_opts_help(spec, stdout);
				return 1;
			}
			o = find_long(spec->opts, a + 2, len);
			if (!o) {
				qlb_err("unknown option '%.*s' (see qlb %s --help)", (int)len + 2, a,
					spec->name);
				return -EINVAL;
			}
			if (eq && !takes_value(o)) {
				qlb_err("--%s takes no value", o->name);
				return -EINVAL;
			}
			if (eq)
				value = eq + 1;
		} else {
			if (a[1] == 'h' && !a[2]) {
				qlb_opts_help(spec, stdout);
				return 1;
			}
			o = find_short(spec->opts, a[1]);
			if (!o) {
				qlb_err("unknown option '-%c' (see qlb %s --help)", a[1], spec->name);
				return -EINVAL;
			}
			if (a[2]) {
				if (!takes_value(o)) {
					qlb_err("unknown option '%s' (see qlb %s --help)", a,
						spec->name);
					return -EINVAL;
				}
				value = a + 2;
			}
		}
		if (takes_value(o) && !value) {
			if (i + 1 == argc) {
				qlb_err("--%s needs a value (see qlb %s --help)", o->name, spec->name);
				return -EINVAL;
			}
			value = argv[++i];
		}
		err = note_seen(spec, o, res);
		if (!err)
			err = set_value(o, value, base);
		if (err)
			return err;
	}
	res->next = argc;
	return 0;
}

int qlb_opts_given(const struct qlb_cmd_spec *spec, const struct qlb_opts_result *res,
		   const char *long_name)
{
	const struct qlb_opt *o = find_long(spec->opts, long_name, strlen(long_name));

	return o && res->seen[o - spec->opts];
}

void qlb_opts_help(const struct qlb_cmd_spec *spec, FILE *f)
{
	fputs(spec->synopsis, f);
	fputc('\n', f);
	for (const struct qlb_opt *o = spec->opts; o->name; o++) {
		char left[96];
		const char *h = o->help, *nl;
		int n;

		if (o->type == QLB_OPT_SECTION) {
			fprintf(f, "\n%s\n", o->help);
			continue;
		}
		if (o->short_name)
			n = snprintf(left, sizeof(left), "  -%c, --%s%s%s", o->short_name, o->name,
				     o->arg ? " " : "", o->arg ? o->arg : "");
		else
			n = snprintf(left, sizeof(left), "      --%s%s%s", o->name,
				     o->arg ? " " : "", o->arg ? o->arg : "");
		if (n >= HELP_COLUMN)
			fprintf(f, "%s\n%*s", left, HELP_COLUMN, "");
		else
			fprintf(f, "%-*s", HELP_COLUMN, left);
		while ((nl = strchr(h, '\n'))) {
			fprintf(f, "%.*s\n%*s", (int)(nl - h), h, HELP_COLUMN, "");
			h = nl + 1;
		}
		fprintf(f, "%s\n", h);
	}
	fprintf(f, "%-*s%s\n", HELP_COLUMN, "  -h, --help", "this text");
	if (spec->epilog)
		fputs(spec->epilog, f);
}
