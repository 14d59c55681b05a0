/* Output formatting. Expected strings are what docker prints for the same input: go-units
 * thresholds and rounding, text/tabwriter padding, text/template printing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include "format.h"

static void test_human_size(void **state)
{
	static const struct {
		uint64_t in;
		const char *out;
	} cases[] = {
		{0, "0B"},
		{1, "1B"},
		{999, "999B"},
		{1000, "1kB"},
		{1001, "1kB"},
		{1234, "1.23kB"},
		{1235, "1.24kB"}, /* 1.235 is just above .235 in binary: rounds up in Go too */
		{1500, "1.5kB"},
		{10000, "10kB"},
		{99949, "99.9kB"},
		{123456, "123kB"},
		{999499, "999kB"},
		{999999, "1e+03kB"}, /* %.3g of 999.999: Go prints the same exponent form */
		{1000000, "1MB"},
		{7812345, "7.81MB"},
		{187000000, "187MB"},
		{1234567890, "1.23GB"},
		{5000000000000ULL, "5TB"},
		{1000000000000000ULL, "1PB"},
		{2500000000000000000ULL, "2.5EB"},
		{UINT64_MAX, "18.4EB"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = fmt_human_size(cases[i].in);
		if (strcmp(s, cases[i].out) != 0)
			fail_msg("%llu: got '%s', want '%s'", (unsigned long long)cases[i].in, s,
				 cases[i].out);
		free(s);
	}
}

static void test_time_ago(void **state)
{
	static const struct {
		long long secs;
		const char *out;
	} cases[] = {
		{-5, "Less than a second ago"}, /* clocks disagree: a future time */
		{0, "Less than a second ago"},
		{1, "1 second ago"},
		{2, "2 seconds ago"},
		{59, "59 seconds ago"},
		{60, "About a minute ago"},
		{119, "About a minute ago"},
		{120, "2 minutes ago"},
		{3599, "59 minutes ago"},
		{3600, "About an hour ago"},
		{5399, "About an hour ago"}, /* hours are rounded: 1.4997h */
		{5400, "2 hours ago"},
		{47 * 3600 + 1799, "47 hours ago"},
		{47 * 3600 + 1800, "2 days ago"},
		{335 * 3600 + 1799, "13 days ago"},
		{335 * 3600 + 1800, "2 weeks ago"},
		{1439 * 3600 + 1799, "8 weeks ago"},
		{1439 * 3600 + 1800, "2 months ago"},
		{17519 * 3600 + 1799, "24 months ago"},
		{17519 * 3600 + 1800, "1 years ago"}, /* go-units: rounded hours pick, truncated count */
		{17520 * 3600, "2 years ago"},
		{(3 * 365 + 60) * 24 * 3600LL, "3 years ago"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t now = 1700000000;
		char *s = fmt_time_ago(now - (time_t)cases[i].secs, now);
		if (strcmp(s, cases[i].out) != 0)
			fail_msg("%lld s: got '%s', want '%s'", cases[i].secs, s, cases[i].out);
		free(s);
	}
	/* time.Duration saturates at about 292 years. */
	char *s = fmt_time_ago(0, INT64_MAX);
	assert_string_equal(s, "292 years ago");
	free(s);
	s = fmt_time_ago(INT64_MIN, INT64_MAX);
	assert_string_equal(s, "292 years ago");
	free(s);
	s = fmt_time_ago(INT64_MAX, INT64_MIN);
	assert_string_equal(s, "Less than a second ago");
	free(s);
}

static void test_rfc3339(void **state)
{
	static const struct {
		const char *in;
		long long want;
	} good[] = {
		{"2024-01-02T03:04:05Z", 1704164645},
		{"2024-01-02T03:04:05.123456789Z", 1704164645},
		{"2024-01-02T03:04:05.1Z", 1704164645},
		{"2024-01-02T04:04:05+01:00", 1704164645},
		{"2024-01-01T22:04:05-05:00", 1704164645},
		{"2024-01-02T08:34:05.5+05:30", 1704164645},
		{"2024-01-02t03:04:05z", 1704164645},
		{"1970-01-01T00:00:00Z", 0},
		{"1969-12-31T23:59:59Z", -1},
		{"2024-02-29T00:00:00Z", 1709164800},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		time_t t = 42;
		if (fmt_parse_rfc3339(good[i].in, &t) != 0 || (long long)t != good[i].want)
			fail_msg("'%s': got %lld, want %lld", good[i].in, (long long)t, good[i].want);
	}
	static const char *const bad[] = {
		"",
		"2024-01-02",
		"2024-01-02T03:04:05",
		"2024-01-02 03:04:05Z",
		"2024-1-02T03:04:05Z",
		"2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z",
		"2023-02-29T00:00:00Z",
		"2024-04-31T00:00:00Z",
		"2024-01-02T24:00:00Z",
		"2024-01-02T03:60:00Z",
		"2024-01-02T03:04:60Z",
		"2024-01-02T03:04:05.Z",
		"2024-01-02T03:04:05Zx",
		"2024-01-02T03:04:05+0100",
		"2024-01-02T03:04:05+01:60",
		"2024-01-02T03:04:05+24:00",
		"2024-01-02T03:04:05+01:0",
		"x024-01-02T03:04:05Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t;
		if (fmt_parse_rfc3339(bad[i], &t) != -EINVAL)
			fail_msg("'%s' should be refused", bad[i]);
	}
	time_t t;
	assert_int_equal(fmt_parse_rfc3339(NULL, &t), -EINVAL);
}

static void test_rfc3339_nano(void **state)
{
	static const struct {
		long long sec;
		long nsec;
		const char *out;
	} cases[] = {
		{1704164645, 123456789, "2024-01-02T03:04:05.123456789Z"},
		{1704164645, 0, "2024-01-02T03:04:05Z"},
		{1704164645, 120000000, "2024-01-02T03:04:05.12Z"},
		{1704164645, 1, "2024-01-02T03:04:05.000000001Z"},
		{0, 0, "1970-01-01T00:00:00Z"},
		{-1, 0, "1969-12-31T23:59:59Z"},
		{0, -1, "1969-12-31T23:59:59.999999999Z"},
		{0, 1500000000, "1970-01-01T00:00:01.5Z"},
		{-62135596800LL, 0, "0001-01-01T00:00:00Z"}, /* Go's zero time */
		{253402300800LL, 0, "10000-01-01T00:00:00Z"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = fmt_rfc3339_nano((time_t)cases[i].sec, cases[i].nsec);
		if (!s || strcmp(s, cases[i].out) != 0)
			fail_msg("%lld.%ld: got '%s', want '%s'", cases[i].sec, cases[i].nsec,
				 s ? s : "(null)", cases[i].out);
		/* What we print we can read back (years 0000-9999). */
		time_t back;
		if (cases[i].sec >= -62135596800LL && cases[i].sec < 253402300800LL) {
			assert_int_equal(fmt_parse_rfc3339(s, &back), 0);
			long long want = cases[i].sec + cases[i].nsec / 1000000000L -
					 (cases[i].nsec < 0 ? 1 : 0);
			assert_int_equal((long long)back, want);
		}
		free(s);
	}
}

/* Print a table into a string. */
static char *table_string(const char *const *rows, size_t n)
{
	struct fmt_table *t = fmt_table_new();
	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fmt_table_add(t, rows[i]), 0);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	fmt_table_print(t, f);
	fclose(f);
	fmt_table_free(t);
	return out;
}

#define TABLE(expect, ...)                                                                         \
	do {                                                                                       \
		static const char *const rows_[] = {__VA_ARGS__};                                  \
		char *got_ = table_string(rows_, sizeof(rows_) / sizeof(rows_[0]));                \
		assert_string_equal(got_, expect);                                                 \
		free(got_);                                                                        \
	} while (0)

static void test_table(void **state)
{
	/* Column width: the widest cell + 3, at least 10; the last cell is not padded. */
	TABLE("REPOSITORY              TAG       IMAGE ID\n"
	      "nginx                   latest    abc123\n"
	      "averyveryverylongname   1         def\n",
	      "REPOSITORY\tTAG\tIMAGE ID", "nginx\tlatest\tabc123", "averyveryverylongname\t1\tdef");
	/* Exactly 7 characters + 3 = minimum width 10; 8 characters make 11. */
	TABLE("abcdefg   x\n", "abcdefg\tx");
	TABLE("abcdefgh   x\n", "abcdefgh\tx");
	/* A line without the column ends the block: widths are computed per block. */
	TABLE("a         b\n"
	      "c\n"
	      "dddddddddddddd   e\n",
	      "a\tb", "c", "dddddddddddddd\te");
	/* Jagged rows: the second column exists only on the first line. */
	TABLE("a         b         c\n"
	      "aa        bb\n",
	      "a\tb\tc", "aa\tbb");
	/* A trailing tab makes a padded cell followed by an empty last cell. */
	TABLE("x         \n", "x\t");
	/* Empty cells are padded too (to the block's width). */
	TABLE("               b\n"
	      "aaaaaaaaaaaa   c\n",
	      "\tb", "aaaaaaaaaaaa\tc");
	/* Widths count characters, wide East Asian ones as two columns. */
	TABLE("\xc3\xa9         x\n"
	      "\xe6\x97\xa5\xe6\x9c\xac      y\n",
	      "\xc3\xa9\tx", "\xe6\x97\xa5\xe6\x9c\xac\ty");
	/* A row with a newline is two lines of one block. */
	TABLE("a              b\n"
	      "cccccccccccc   d\n",
	      "a\tb\ncccccccccccc\td");
	/* A form feed flushes: the lines after it start new blocks. */
	TABLE("a         b\n"
	      "cccccccccccccc   d\n",
	      "a\tb\fcccccccccccccc\td");
	/* A vertical tab ends a cell like a tab. */
	TABLE("a         b\n", "a\vb");
	TABLE("\n", "");

	struct fmt_table *t = fmt_table_new();
	fmt_table_print(t, stdout); /* empty: prints nothing */
	fmt_table_free(t);
	fmt_table_free(NULL);
}

static json_t *sample(void)
{
	json_error_t jerr;
	json_t *o = json_loads("{\"ID\":\"sha256:abc\",\"Repository\":\"nginx\",\"Tag\":\"latest\","
			       "\"Size\":187000000,\"Ratio\":1.5,\"Big\":1500000.0,\"Tiny\":0.00001,"
			       "\"Whole\":2.0,\"Neg\":-0.25,"
			       "\"Nil\":null,\"Yes\":true,\"Empty\":\"\",\"Word\":\"Hello \\u00e9t\\u00e9\","
			       "\"Config\":{\"Env\":[\"A=1\",\"B=<&>\"],\"User\":\"root\","
			       "\"Labels\":{\"x\":\"y\"},\"Depth\":{\"Deeper\":{\"Deepest\":7}},"
			       "\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Ports\":{\"80/tcp\":{},\"443/tcp\":{}},"
			       "\"Sorted\":{\"z\":1,\"b\":{\"c\":null},\"a\":[1500000.0,true]},"
			       "\"None\":{},\"NoList\":[]},"
			       "\"List\":[1,\"two\",null,false,{\"k\":[]}],"
			       "\"Esc\":\"q\\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\\u2028\"}",
			       0, &jerr);
	assert_non_null(o);
	return o;
}

static char *render(const char *tmpl, json_t *obj)
{
	struct fmt_template *t = NULL;
	struct berr *err = NULL;
	if (fmt_template_parse(tmpl, &t, &err) < 0)
		fail_msg("parse '%s': %s", tmpl, err->msg);
	struct buf out = BUF_INIT;
	if (fmt_template_render(t, obj, &out, &err) < 0)
		fail_msg("render '%s': %s", tmpl, err->msg);
	fmt_template_free(t);
	return buf_steal(&out);
}

static void test_template_render(void **state)
{
	static const struct {
		const char *tmpl, *out;
	} cases[] = {
		{"{{.ID}}", "sha256:abc"},
		{"{{ .ID }}", "sha256:abc"},
		{"{{.Repository}}:{{.Tag}}", "nginx:latest"},
		{"ID={{.ID}}\\tSIZE={{.Size}}", "ID=sha256:abc\tSIZE=187000000"},
		{"a\\nb", "a\nb"},
		{"a\\\\tb", "a\\\tb"},
		{"  {{.Tag}}  ", "latest"}, /* docker trims spaces around the format */
		{"{{.Config.User}}", "root"},
		{"{{.Config.Depth.Deeper.Deepest}}", "7"},
		{"{{.Config.Env}}", "[A=1 B=<&>]"},
		{"{{.Config.Labels}}", "map[x:y]"},
		{"{{.Config.Cmd}}", "[sh -c echo hi]"},
		{"{{.Config.Ports}}", "map[443/tcp:{} 80/tcp:{}]"},
		{"{{.Config.Sorted}}", "map[a:[1.5e+06 true] b:map[c:<nil>] z:1]"},
		{"{{.Config.None}} {{.Config.NoList}}", "map[] []"},
		{"{{.List}}", "[1 two <nil> false map[k:[]]]"},
		{"{{json .Config.Cmd}} {{json .Config.Ports}}", "[\"sh\",\"-c\",\"echo hi\"] {\"80/tcp\":{},\"443/tcp\":{}}"},
		{"{{.Missing}}", "<no value>"},
		{"{{.Missing.Deeper}}", "<no value>"},
		{"{{.Config.Missing}}", "<no value>"},
		{"{{.Nil}}", "<nil>"},
		{"{{.Yes}}", "true"},
		{"{{.Empty}}|", "|"},
		{"{{.Ratio}} {{.Big}} {{.Tiny}} {{.Whole}} {{.Neg}}", "1.5 1.5e+06 1e-05 2 -0.25"},
		{"{{json .Ratio}} {{json .Big}} {{json .Tiny}} {{json .Whole}}", "1.5 1500000 0.00001 2"},
		{"{{json .ID}}", "\"sha256:abc\""},
		{"{{json .Size}}", "187000000"},
		{"{{json .Nil}} {{json .Missing}} {{json .Yes}}", "null null true"},
		{"{{json .Config.Env}}", "[\"A=1\",\"B=<&>\"]"},
		{"{{json .List}}", "[1,\"two\",null,false,{\"k\":[]}]"},
		{"{{.Config.Env | json}}", "[\"A=1\",\"B=<&>\"]"},
		{"{{json .Esc}}", "\"q\\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\\u2028\""},
		{"{{upper .Repository}}", "NGINX"},
		{"{{lower .Word}}", "hello \xc3\xa9t\xc3\xa9"},
		{"{{upper .Word}}", "HELLO \xc3\x89T\xc3\x89"},
		{"{{.Tag | upper}}", "LATEST"},
		{"{{.Tag | upper | lower}}", "latest"},
		{"{{json .Tag | upper}}", "\"LATEST\""},
		{"{{.Config.Env | json | upper}}", "[\"A=1\",\"B=<&>\"]"},
		{"{{/* a comment */}}x", "x"},
		{"a {{- .Tag -}} b", "alatestb"},
		{"a  {{- .Tag}}  b", "alatest  b"},
		{"{{.Tag -}}   \\n  b", "latestb"},
		{"no actions", "no actions"},
		{"", ""},
		{"}} {{.Tag}}}}", "}} latest}}"},
	};
	json_t *o = sample();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = render(cases[i].tmpl, o);
		if (strcmp(s, cases[i].out) != 0)
			fail_msg("'%s': got '%s', want '%s'", cases[i].tmpl, s, cases[i].out);
		free(s);
	}

	/* "{{.}}" prints the whole object as Go prints a map (keys sorted); json keeps the
	 * keys in their order. */
	json_t *small = json_pack("{s:s,s:i}", "b", "x", "a", 1);
	char *s = render("{{.}}", small);
	assert_string_equal(s, "map[a:1 b:x]");
	free(s);
	s = render("{{json .}}", small);
	assert_string_equal(s, "{\"b\":\"x\",\"a\":1}");
	free(s);
	/* "json" alone means {{json .}}, as in docker. */
	s = render("json", small);
	assert_string_equal(s, "{\"b\":\"x\",\"a\":1}");
	free(s);
	json_decref(small);

	/* A missing object behaves like one without fields. */
	s = render("{{.ID}}", NULL);
	assert_string_equal(s, "<no value>");
	free(s);

	/* Rendering appends to what the buffer holds. */
	struct fmt_template *t = NULL;
	assert_int_equal(fmt_template_parse("{{.Tag}}", &t, NULL), 0);
	struct buf out = BUF_INIT;
	assert_int_equal(buf_puts(&out, "tag="), 0);
	assert_int_equal(fmt_template_render(t, o, &out, NULL), 0);
	assert_string_equal(out.data, "tag=latest");
	buf_free(&out);
	fmt_template_free(t);
	json_decref(o);
}

static void test_template_errors(void **state)
{
	static const struct {
		const char *tmpl, *msg;
	} parse_errors[] = {
		{"{{range .List}}{{.}}{{end}}", "template: unsupported action 'range'"},
		{"{{if .Yes}}y{{end}}", "template: unsupported action 'if'"},
		{"{{split .ID \":\"}}", "template: unsupported function 'split'"},
		{"{{foo}}", "template: unsupported function 'foo'"},
		{"{{join .Config.Env}}", "template: unsupported function 'join'"},
		{"{{.ID", "template: unclosed action"},
		{"x {{/* no end", "template: unclosed comment"},
		{"{{}}", "template: missing value for command"},
		{"{{ }}", "template: missing value for command"},
		{"{{json}}", "template: wrong number of args for json: want 1 got 0"},
		{"{{json .A .B}}", "template: too many arguments in action '{{json .A .B}}'"},
		{"{{.A | json .B}}", "template: wrong number of args for json: want 1 got 2"},
		{"{{.A | .B}}", "template: can't give argument to non-function in action '{{.A | .B}}'"},
		{"{{.A json}}", "template: can't give argument to non-function in action '{{.A json}}'"},
		{"{{.A |}}", "template: missing command in action '{{.A |}}'"},
		{"{{| json}}", "template: missing command in action '{{| json}}'"},
		{"{{$x := .A}}", "template: variables are not supported in action '{{$x := .A}}'"},
		{"{{\"lit\"}}", "template: unsupported syntax in action '{{\"lit\"}}'"},
		{"{{(.A)}}", "template: unsupported syntax in action '{{(.A)}}'"},
		{"{{.A..B}}", "template: bad field in action '{{.A..B}}'"},
		{"{{.A.}}", "template: bad field in action '{{.A.}}'"},
		{"{{.1}}", "template: bad field in action '{{.1}}'"},
		{"{{.A-B}}", "template: bad field in action '{{.A-B}}'"},
		{"{{-3}}", "template: unsupported syntax in action '{{-3}}'"},
	};
	for (size_t i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
		struct fmt_template *t = (struct fmt_template *)&t;
		struct berr *err = NULL;
		int r = fmt_template_parse(parse_errors[i].tmpl, &t, &err);
		if (r != -EINVAL || !err || strcmp(err->msg, parse_errors[i].msg) != 0)
			fail_msg("'%s': got %d '%s', want '%s'", parse_errors[i].tmpl, r,
				 err ? err->msg : "(none)", parse_errors[i].msg);
		assert_null(t);
		berr_free(err);
	}

	static const struct {
		const char *tmpl, *msg;
	} render_errors[] = {
		{"{{.ID.Sub}}", "template: {{.ID.Sub}}: can't evaluate field Sub in type string"},
		{"{{.Size.X}}", "template: {{.Size.X}}: can't evaluate field X in type int"},
		{"{{.List.X}}", "template: {{.List.X}}: can't evaluate field X in type array"},
		{"{{.Nil.X}}", "template: {{.Nil.X}}: nil pointer evaluating field X"},
		{"{{upper .Size}}",
		 "template: {{upper .Size}}: wrong type for value; expected string; got int"},
		{"{{.Config | lower}}",
		 "template: {{.Config | lower}}: wrong type for value; expected string; got object"},
		{"{{upper .Missing}}", "template: {{upper .Missing}}: invalid value; expected string"},
	};
	json_t *o = sample();
	for (size_t i = 0; i < sizeof(render_errors) / sizeof(render_errors[0]); i++) {
		struct fmt_template *t = NULL;
		struct berr *err = NULL;
		assert_int_equal(fmt_template_parse(render_errors[i].tmpl, &t, NULL), 0);
		struct buf out = BUF_INIT;
		assert_int_equal(buf_puts(&out, "kept"), 0);
		int r = fmt_template_render(t, o, &out, &err);
		if (r != -EINVAL || !err || strcmp(err->msg, render_errors[i].msg) != 0)
			fail_msg("'%s': got %d '%s', want '%s'", render_errors[i].tmpl, r,
				 err ? err->msg : "(none)", render_errors[i].msg);
		/* A failed render leaves the buffer as it was. */
		assert_string_equal(out.data, "kept");
		buf_free(&out);
		berr_free(err);
		fmt_template_free(t);
	}
	json_decref(o);

	struct fmt_template *t = NULL;
	assert_int_equal(fmt_template_parse(NULL, &t, NULL), -EINVAL);
}

static void test_template_table(void **state)
{
	struct fmt_template *t = NULL;
	assert_int_equal(fmt_template_parse("table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.Size}}",
					    &t, NULL),
			 0);
	assert_true(fmt_template_is_table(t));
	json_t *headers = json_pack("{s:s,s:s,s:s,s:s}", "Repository", "REPOSITORY", "Tag", "TAG",
				    "ID", "IMAGE ID", "Size", "SIZE");
	struct fmt_table *tab = fmt_table_new();
	struct buf line = BUF_INIT;
	assert_int_equal(fmt_template_header(t, headers, &line, NULL), 0);
	assert_string_equal(line.data, "REPOSITORY\tTAG\tIMAGE ID\tSIZE");
	assert_int_equal(fmt_table_add(tab, line.data), 0);
	static const char *const rows[] = {
		"{\"Repository\":\"nginx\",\"Tag\":\"latest\",\"ID\":\"0123456789ab\",\"Size\":\"187MB\"}",
		"{\"Repository\":\"localhost:5000/team/app\",\"Tag\":\"v1.2.3\",\"ID\":\"ba9876543210\","
		"\"Size\":\"7.81MB\"}",
	};
	for (size_t i = 0; i < 2; i++) {
		json_t *o = json_loads(rows[i], 0, NULL);
		buf_reset(&line);
		assert_int_equal(fmt_template_render(t, o, &line, NULL), 0);
		assert_int_equal(fmt_table_add(tab, line.data), 0);
		json_decref(o);
	}
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	fmt_table_print(tab, f);
	fclose(f);
	assert_string_equal(out, "REPOSITORY                TAG       IMAGE ID       SIZE\n"
				 "nginx                     latest    0123456789ab   187MB\n"
				 "localhost:5000/team/app   v1.2.3    ba9876543210   7.81MB\n");
	free(out);
	fmt_table_free(tab);
	buf_free(&line);
	fmt_template_free(t);

	/* Header rendering: functions leave the header alone, literal text stays, unknown
	 * fields are "<no value>" as with Go's map lookup. */
	static const struct {
		const char *tmpl, *header;
	} cases[] = {
		{"table {{upper .ID}}\\t{{json .Tag}}", "IMAGE ID\tTAG"},
		{"table {{.Tag | lower}}", "TAG"},
		{"table ID: {{.ID}}", "ID: IMAGE ID"},
		{"table {{.Unknown}}", "<no value>"},
		{"table {{.ID.Short}}", "IMAGE ID"},
		{"table", ""},
		{"tablex {{.ID}}", "x IMAGE ID"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fmt_template_parse(cases[i].tmpl, &t, NULL), 0);
		assert_true(fmt_template_is_table(t));
		struct buf h = BUF_INIT;
		assert_int_equal(fmt_template_header(t, headers, &h, NULL), 0);
		if (strcmp(h.data, cases[i].header) != 0)
			fail_msg("'%s': header '%s', want '%s'", cases[i].tmpl, h.data,
				 cases[i].header);
		buf_free(&h);
		fmt_template_free(t);
	}
	json_decref(headers);

	assert_int_equal(fmt_template_parse("{{.ID}}", &t, NULL), 0);
	assert_false(fmt_template_is_table(t));
	fmt_template_free(t);
	assert_false(fmt_template_is_table(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_human_size),
		cmocka_unit_test(test_time_ago),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_rfc3339_nano),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_template_render),
		cmocka_unit_test(test_template_errors),
		cmocka_unit_test(test_template_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
