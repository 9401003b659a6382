// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The declarative option parser (agent/cli/opts.h): every kind of value, the
 * refusals (unknown, missing value, bad value, a single-valued option given
 * twice, two options of one group, too many arguments), each with one line,
 * and the help text the table writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli_capture.h"
#include "log.h"
#include "opts.h"
#include "parse.h"

struct args {
	int flag, choice, a, b;
	const char *str;
	char buf[8];
	struct qlb_opt_list list;
	uint32_t u32;
	uint64_t u64;
	double dbl;
	int custom;
};

static int parse_even(const char *s, void *dst, char *why, size_t len)
{
	uint32_t v;

	if (qlb_parse_u32(s, 0, 1000, &v) || v % 2) {
		snprintf(why, len, "want an even number");
		return -EINVAL;
	}
	*(int *)dst = (int)v;
	return 0;
}

static const struct qlb_opt_choice colours[] = { { "red", 1 }, { "green", 2 }, { "blue", 3 },
						 { NULL, 0 } };

static const struct qlb_opt opts[] = {
	{ QLB_O_FLAG("flag", 'f', struct args, flag, "a flag") },
	{ QLB_O_STR("str", 's', "S", struct args, str, "a string") },
	{ QLB_O_STRBUF("buf", 0, "B", struct args, buf, "a short string") },
	{ QLB_O_LIST("item", 'i', "I", struct args, list, "repeatable") },
	{ QLB_O_U32("count", 'c', "N", struct args, u32, 1, 10, "a count\nover two lines") },
	{ QLB_O_U64("big", 0, "N", struct args, u64, 0, UINT64_MAX, "anything unsigned") },
	{ QLB_O_DOUBLE("ratio", 'r', "X", struct args, dbl, 0.5, 2, "a ratio") },
	{ QLB_O_CHOICE("colour", 0, "C", struct args, choice, colours, "a colour") },
	{ .name = "", .type = QLB_OPT_SECTION, .help = "more:" },
	{ QLB_O_CUSTOM("even", 'e', "N", struct args, custom, parse_even, "an even number") },
	{ QLB_O_FLAG("this", 0, struct args, a, "this"), .group = 1 },
	{ QLB_O_FLAG("that", 0, struct args, b, "or that"), .group = 1 },
	QLB_OPT_END
};

static const struct qlb_cmd_spec spec = {
	.name = "test",
	.synopsis = "Usage: qlb test [options] [ARG ...]\n",
	.epilog = "the end\n",
	.opts = opts,
	.max_pos = 2,
};

static struct args got;
static struct qlb_opts_result res;

static int test_cmd(int argc, char **argv)
{
	int err;

	memset(&got, 0, sizeof(got));
	err = qlb_opts_parse(&spec, argc, argv, &got, &res);
	return err > 0 ? 0 : err < 0 ? QLB_EXIT_USAGE : 0;
}

#define PARSE(c, ...) RUN_CLI_CMD((c), test_cmd, "test", __VA_ARGS__)

static void assert_ok(const struct captured *c)
{
	if (c->rc != 0 || c->err[0])
		fail_msg("expected success, got rc %d: %s", c->rc, c->err);
}

/* rc 2, one "qlb: " line that contains want. */
static void assert_refused(const struct captured *c, const char *want)
{
	const char *nl = strchr(c->err, '\n');

	if (c->rc != 2 || strncmp(c->err, "qlb: ", 5) || !nl || nl[1] || !strstr(c->err, want))
		fail_msg("expected rc 2 and one line with '%s', got rc %d: %s", want, c->rc, c->err);
}

static void test_values(void **state)
{
	struct captured c;

	(void)state;
	PARSE(&c, "-f", "--str", "hello", "--buf=1234567", "-i", "a", "--item", "b", "-c7",
	      "--big", "18446744073709551615", "-r", "1.5", "--colour", "green", "-e", "42",
	      "--that", "pos1", "--", "-pos2");
	assert_ok(&c);
	assert_int_equal(got.flag, 1);
	assert_string_equal(got.str, "hello");
	assert_string_equal(got.buf, "1234567");
	assert_int_equal(got.list.n, 2);
	assert_string_equal(got.list.v[0], "a");
	assert_string_equal(got.list.v[1], "b");
	assert_int_equal(got.u32, 7);
	assert_true(got.u64 == UINT64_MAX);
	assert_true(got.dbl == 1.5);
	assert_int_equal(got.choice, 2);
	assert_int_equal(got.custom, 42);
	assert_int_equal(got.b, 1);
	assert_int_equal(got.a, 0);
	assert_int_equal(res.npos, 2);
	assert_string_equal(res.pos[0], "pos1");
	assert_string_equal(res.pos[1], "-pos2");
	assert_true(qlb_opts_given(&spec, &res, "count"));
	assert_false(qlb_opts_given(&spec, &res, "this"));
	assert_false(qlb_opts_given(&spec, &res, "no-such"));
}

static void test_refusals(void **state)
{
	struct captured c;

	(void)state;
	PARSE(&c, "--nope");
	assert_refused(&c, "unknown option '--nope' (see qlb test --help)");
	PARSE(&c, "-z");
	assert_refused(&c, "unknown option '-z'");
	PARSE(&c, "-fx");
	assert_refused(&c, "unknown option '-fx'");
	PARSE(&c, "--str");
	assert_refused(&c, "--str needs a value");
	PARSE(&c, "--flag=1");
	assert_refused(&c, "--flag takes no value");
	PARSE(&c, "--count", "0");
	assert_refused(&c, "bad --count '0': want a whole number from 1 to 10");
	PARSE(&c, "--count", "-1");
	assert_refused(&c, "bad --count '-1'");
	PARSE(&c, "--count", "3x");
	assert_refused(&c, "bad --count '3x'");
	PARSE(&c, "--ratio", "3");
	assert_refused(&c, "bad --ratio '3': want a number from 0.5 to 2");
	PARSE(&c, "--ratio", "nan");
	assert_refused(&c, "bad --ratio 'nan'");
	PARSE(&c, "--colour", "pink");
	assert_refused(&c, "bad --colour 'pink': want red, green or blue");
	PARSE(&c, "--even", "3");
	assert_refused(&c, "bad --even '3': want an even number");
	PARSE(&c, "--buf", "12345678");
	assert_refused(&c, "bad --buf '12345678': longer than 7 characters");
	PARSE(&c, "--str", "");
	assert_refused(&c, "bad --str '': want a value");
	PARSE(&c, "a", "b", "c");
	assert_refused(&c, "unexpected argument 'c'");
	/* a single-valued option given twice, in any spelling */
	PARSE(&c, "--count", "2", "-c", "3");
	assert_refused(&c, "--count given twice");
	PARSE(&c, "-f", "--flag");
	assert_refused(&c, "--flag given twice");
	PARSE(&c, "--colour=red", "--colour", "red");
	assert_refused(&c, "--colour given twice");
	PARSE(&c, "--this", "--that");
	assert_refused(&c, "--this and --that exclude each other");
	/* a repeatable one may come again */
	PARSE(&c, "-i", "x", "-i", "y", "-i", "z");
	assert_ok(&c);
	assert_int_equal(got.list.n, 3);
}

static void test_help(void **state)
{
	struct captured c;

	(void)state;
	PARSE(&c, "--count", "99", "--help");
	/* an error before --help is still an error */
	assert_refused(&c, "bad --count");
	PARSE(&c, "-h", "--nope");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.out, "Usage: qlb test [options] [ARG ...]\n"));
	assert_non_null(strstr(c.out, "\n  -f, --flag                  a flag\n"));
	assert_non_null(strstr(c.out, "\n      --buf B                 a short string\n"));
	assert_non_null(strstr(c.out, "\n  -c, --count N               a count\n"
				      "                              over two lines\n"));
	assert_non_null(strstr(c.out, "\nmore:\n  -e, --even N"));
	assert_non_null(strstr(c.out, "\n  -h, --help                  this text\nthe end\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
