/* imgconfig: Dockerfile change instructions, words and expansion, fresh configs, platforms,
 * untrusted configs. The expected configs of the change table were observed with
 * `docker import -c ... && docker image inspect -f '{{json .Config}}'` on dockerd 20.10. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include "imgconfig.h"
#include "cleanup.h"

struct change_case {
	const char *changes[4]; /* NULL-terminated */
	const char *expect;     /* compact JSON with sorted keys, or NULL for an error */
	const char *error;      /* substring of the error message */
};

static const struct change_case change_cases[] = {
	/* CMD and ENTRYPOINT */
	{{"CMD [\"a\",\"b\"]"}, "{\"Cmd\":[\"a\",\"b\"]}", NULL},
	{{"CMD a b"}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"a b\"]}", NULL},
	{{"cmd [\"a\", \"b\"]"}, "{\"Cmd\":[\"a\",\"b\"]}", NULL},
	{{"CMD [ \"a\" ]"}, "{\"Cmd\":[\"a\"]}", NULL},
	{{"CMD echo \"hi there\"  $HOME"}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"echo \\\"hi there\\\"  $HOME\"]}", NULL},
	{{"CMD [\"echo\", \"a\""}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"[\\\"echo\\\", \\\"a\\\"\"]}", NULL},
	{{"CMD ['a']"}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"['a']\"]}", NULL},
	{{"CMD []"}, "{\"Cmd\":[]}", NULL},
	{{"CMD"}, "{\"Cmd\":[\"/bin/sh\",\"-c\"]}", NULL},
	{{"  CMD   x  "}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"x\"]}", NULL},
	{{"CMD a \\\nb"}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"a b\"]}", NULL},
	{{"CMD [\"a\", 1]"}, NULL, "arrays must be comprised of strings only"},
	{{"ENTRYPOINT [\"/bin/sh\",\"-c\"]"}, "{\"Cmd\":null,\"Entrypoint\":[\"/bin/sh\",\"-c\"]}", NULL},
	{{"CMD a", "ENTRYPOINT b"}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"a\"],\"Entrypoint\":[\"/bin/sh\",\"-c\",\"b\"]}", NULL},
	{{"ENTRYPOINT"}, "{\"Cmd\":null,\"Entrypoint\":null}", NULL},
	{{"ENTRYPOINT []"}, "{\"Cmd\":null,\"Entrypoint\":[]}", NULL},
	/* ENV */
	{{"ENV A=1 B=\"x y\""}, "{\"Env\":[\"A=1\",\"B=x y\"]}", NULL},
	{{"ENV A 1"}, "{\"Env\":[\"A=1\"]}", NULL},
	{{"ENV A 1 2"}, "{\"Env\":[\"A=1 2\"]}", NULL},
	{{"ENV A=1", "ENV B=$A C=${A}x D=\\$A"}, "{\"Env\":[\"A=1\",\"B=1\",\"C=1x\",\"D=$A\"]}", NULL},
	{{"ENV A=1 B=2", "ENV A=3"}, "{\"Env\":[\"A=3\",\"B=2\"]}", NULL},
	{{"ENV A=\"x y\" B=x\\ y C='q $A'"}, "{\"Env\":[\"A=x y\",\"B=x y\",\"C=q $A\"]}", NULL},
	{{"ENV A=${B:-def} C=${A:+alt}"}, "{\"Env\":[\"A=def\",\"C=\"]}", NULL},
	{{"ENV A=1", "ENV A=2 B=$A"}, "{\"Env\":[\"A=2\",\"B=1\"]}", NULL},
	{{"ENV A="}, "{\"Env\":[\"A=\"]}", NULL},
	{{"ENV"}, NULL, "ENV requires at least one argument"},
	{{"ENV A"}, NULL, "ENV must have two arguments"},
	{{"ENV =x"}, NULL, "ENV names can not be blank"},
	{{"ENV A=1 B"}, NULL, "Syntax error - can't find = in \"B\". Must be of the form: name=value"},
	{{"ENV A=${B"}, NULL, "failed to process \"${B\": missing ':' in substitution"},
	{{"ENV A=\"unterminated"}, NULL, "looking for matching double-quote"},
	{{"ENV A='x"}, NULL, "looking for matching single-quote"},
	{{"ENV A=${}"}, NULL, "bad substitution"},
	{{"ENV A=${B:-x"}, NULL, "missing '}'"},
	{{"ENV A=\"${B:?must be set}\""}, NULL, "B: must be set"},
	{{"ENV A=${B:=x}"}, NULL, "unsupported modifier (=) in substitution"},
	/* EXPOSE */
	{{"EXPOSE 80/tcp 53/udp"}, "{\"ExposedPorts\":{\"53/udp\":{},\"80/tcp\":{}}}", NULL},
	{{"EXPOSE 80-82"}, "{\"ExposedPorts\":{\"80/tcp\":{},\"81/tcp\":{},\"82/tcp\":{}}}", NULL},
	{{"EXPOSE 80/sctp 8080/TCP"}, "{\"ExposedPorts\":{\"80/sctp\":{},\"8080/tcp\":{}}}", NULL},
	{{"EXPOSE 8080:80"}, "{\"ExposedPorts\":{\"80/tcp\":{}}}", NULL},
	{{"EXPOSE 80/tcp/x"}, "{\"ExposedPorts\":{\"80/tcp\":{}}}", NULL},
	{{"EXPOSE 0"}, "{\"ExposedPorts\":{\"0/tcp\":{}}}", NULL},
	{{"ENV P=8080", "EXPOSE $P"}, "{\"Env\":[\"P=8080\"],\"ExposedPorts\":{\"8080/tcp\":{}}}", NULL},
	{{"EXPOSE"}, NULL, "EXPOSE requires at least one argument"},
	{{"EXPOSE abc"}, NULL, "Invalid containerPort: abc"},
	{{"EXPOSE 70000"}, NULL, "Invalid containerPort: 70000"},
	{{"EXPOSE 82-80"}, NULL, "Invalid containerPort: 82-80"},
	{{"EXPOSE 80/foo"}, NULL, "Invalid proto: foo"},
	{{"EXPOSE 80 80/foo"}, NULL, "Invalid proto: foo"},
	/* LABEL */
	{{"LABEL a=b"}, "{\"Labels\":{\"a\":\"b\"}}", NULL},
	{{"LABEL \"a b\"=\"c d\" e=f"}, "{\"Labels\":{\"a b\":\"c d\",\"e\":\"f\"}}", NULL},
	{{"LABEL a b c"}, "{\"Labels\":{\"a\":\"b c\"}}", NULL},
	{{"LABEL a=$HOME"}, "{\"Labels\":{\"a\":\"\"}}", NULL},
	{{"LABEL"}, NULL, "LABEL requires at least one argument"},
	{{"LABEL a"}, NULL, "LABEL must have two arguments"},
	/* VOLUME, USER, WORKDIR */
	{{"VOLUME /x"}, "{\"Volumes\":{\"/x\":{}}}", NULL},
	{{"VOLUME [\"/a\",\"/b\"]"}, "{\"Volumes\":{\"/a\":{},\"/b\":{}}}", NULL},
	{{"VOLUME /a /b"}, "{\"Volumes\":{\"/a\":{},\"/b\":{}}}", NULL},
	{{"VOLUME"}, NULL, "VOLUME requires at least one argument"},
	{{"VOLUME []"}, NULL, "VOLUME requires at least one argument"},
	{{"VOLUME \"\""}, NULL, "VOLUME specified can not be an empty string"},
	{{"VOLUME [\"/a\", 1]"}, NULL, "arrays must be comprised of strings only"},
	{{"USER u:g"}, "{\"User\":\"u:g\"}", NULL},
	{{"USER a b"}, "{\"User\":\"a b\"}", NULL},
	{{"USER ${NOPE}"}, "{\"User\":\"\"}", NULL},
	{{"USER"}, NULL, "USER requires exactly one argument"},
	{{"WORKDIR /w"}, "{\"WorkingDir\":\"/w\"}", NULL},
	{{"WORKDIR rel"}, "{\"WorkingDir\":\"/rel\"}", NULL},
	{{"WORKDIR /a", "WORKDIR b"}, "{\"WorkingDir\":\"/a/b\"}", NULL},
	{{"WORKDIR /a", "WORKDIR ../b/./c//"}, "{\"WorkingDir\":\"/b/c\"}", NULL},
	{{"WORKDIR /a/../b/./c//"}, "{\"WorkingDir\":\"/a/../b/./c//\"}", NULL},
	{{"ENV X=/p", "WORKDIR $X/q"}, "{\"Env\":[\"X=/p\"],\"WorkingDir\":\"/p/q\"}", NULL},
	{{"WORKDIR"}, NULL, "WORKDIR requires exactly one argument"},
	/* ONBUILD, STOPSIGNAL, HEALTHCHECK */
	{{"ONBUILD RUN x"}, "{\"OnBuild\":[\"RUN x\"]}", NULL},
	{{"ONBUILD FOO x"}, "{\"OnBuild\":[\"FOO x\"]}", NULL},
	{{"ONBUILD"}, NULL, "ONBUILD requires at least one argument"},
	{{"ONBUILD FROM x"}, NULL, "FROM isn't allowed as an ONBUILD trigger"},
	{{"ONBUILD onbuild x"}, NULL, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
	{{"STOPSIGNAL SIGKILL"}, "{\"StopSignal\":\"SIGKILL\"}", NULL},
	{{"STOPSIGNAL 9"}, "{\"StopSignal\":\"9\"}", NULL},
	{{"STOPSIGNAL SIGNOPE"}, NULL, "Invalid signal: SIGNOPE"},
	{{"HEALTHCHECK CMD true"}, "{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"true\"]}}", NULL},
	{{"HEALTHCHECK --interval=5s CMD [\"true\"]"}, "{\"Healthcheck\":{\"Interval\":5000000000,\"Test\":[\"CMD\",\"true\"]}}", NULL},
	{{"HEALTHCHECK --timeout=1m30s --retries=3 CMD x"}, "{\"Healthcheck\":{\"Retries\":3,\"Test\":[\"CMD-SHELL\",\"x\"],\"Timeout\":90000000000}}", NULL},
	{{"HEALTHCHECK NONE"}, "{\"Healthcheck\":{\"Test\":[\"NONE\"]}}", NULL},
	{{"HEALTHCHECK NONE x"}, NULL, "HEALTHCHECK NONE takes no arguments"},
	{{"HEALTHCHECK FOO"}, NULL, "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"},
	{{"HEALTHCHECK --bad=1 CMD x"}, NULL, "Unknown flag: bad"},
	{{"HEALTHCHECK --retries=-1 CMD x"}, NULL, "--retries must be at least 1 (not -1)"},
	{{"HEALTHCHECK --interval=0.5ms CMD x"}, NULL, "Interval \"interval\" cannot be less than 1ms"},
	{{"HEALTHCHECK --interval=5 CMD x"}, NULL, "invalid duration"},
	{{"HEALTHCHECK CMD"}, NULL, "Missing command after HEALTHCHECK CMD"},
	/* Several lines, comments, errors about the instruction itself */
	{{"ENV A=1\n# comment\n\nCMD x"}, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"x\"],\"Env\":[\"A=1\"]}", NULL},
	{{"", "LABEL a=b"}, "{\"Labels\":{\"a\":\"b\"}}", NULL},
	{{"FOO bar"}, NULL, "dockerfile parse error on line 1: unknown instruction: FOO"},
	{{"ENV A=1", "", "frob x"}, NULL, "dockerfile parse error on line 3: unknown instruction: FROB"},
	{{"RUN x"}, NULL, "run is not a valid change command"},
	{{"FROM x"}, NULL, "from is not a valid change command"},
	{{"SHELL [\"/bin/bash\",\"-c\"]"}, NULL, "shell is not a valid change command"},
	{{"COPY a b"}, NULL, "copy is not a valid change command"},
	{{""}, NULL, "file with no instructions"},
	{{"   "}, NULL, "file with no instructions"},
	{{"# comment"}, NULL, "file with no instructions"},
};

static void test_changes(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(change_cases); i++) {
		const struct change_case *tc = &change_cases[i];
		size_t n = 0;
		while (n < 4 && tc->changes[n])
			n++;
		json_t *cfg = json_object();
		struct berr *err = NULL;
		int r = imgconfig_apply_changes(cfg, (char *const *)tc->changes, n, IMGCONFIG_CHANGE,
						&err);
		if (tc->expect) {
			if (r < 0)
				fail_msg("case %zu (%s): unexpected error: %s", i, tc->changes[0],
					 err ? err->msg : "?");
			char *got = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
			if (!streq(got, tc->expect))
				fail_msg("case %zu (%s):\n got      %s\n expected %s", i, tc->changes[0],
					 got, tc->expect);
			free(got);
		} else {
			if (r >= 0)
				fail_msg("case %zu (%s): succeeded, expected error %s", i, tc->changes[0],
					 tc->error);
			assert_int_equal(r, -EINVAL);
			assert_non_null(err);
			if (!strstr(err->msg, tc->error))
				fail_msg("case %zu (%s): error \"%s\", expected \"%s\"", i, tc->changes[0],
					 err->msg, tc->error);
		}
		berr_free(err);
		json_decref(cfg);
	}
}

/* A failing instruction leaves the config as it was (EXPOSE checks every spec first). */
static void test_change_atomic(void **state)
{
	json_t *cfg = json_pack("{s:{s:{}}}", "ExposedPorts", "1/tcp");
	struct berr *err = NULL;
	char *ch[] = {"EXPOSE 80 90/bad"};
	assert_int_equal(imgconfig_apply_changes(cfg, ch, 1, IMGCONFIG_CHANGE, &err), -EINVAL);
	berr_free(err);
	char *got = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(got, "{\"ExposedPorts\":{\"1/tcp\":{}}}");
	free(got);
	json_decref(cfg);
}

/* Builder mode: SHELL is allowed and changes the shell form; build-only instructions are
 * -EOPNOTSUPP; build args expand, and ENV wins over them. */
static void test_builder_mode(void **state)
{
	json_t *cfg = json_object();
	char *args[] = {"V=arg", "W=warg", NULL};
	struct imgconfig_changer c = {.config = cfg, .build_args = args};
	struct berr *err = NULL;
	assert_int_equal(imgconfig_apply_instruction(&c, "SHELL", "[\"/bin/bash\",\"-xc\"]", &err), 0);
	assert_int_equal(imgconfig_apply_instruction(&c, "cmd", "echo hi", &err), 0);
	assert_int_equal(imgconfig_apply_instruction(&c, "ENV", "V=env", &err), 0);
	assert_int_equal(imgconfig_apply_instruction(&c, "LABEL", "v=$V w=$W", &err), 0);
	assert_int_equal(imgconfig_apply_instruction(&c, "ENTRYPOINT", "[\"e\"]", &err), 0);
	char *got = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(got, "{\"Cmd\":[\"/bin/bash\",\"-xc\",\"echo hi\"],\"Entrypoint\":[\"e\"],"
				 "\"Env\":[\"V=env\"],\"Labels\":{\"v\":\"env\",\"w\":\"warg\"},"
				 "\"Shell\":[\"/bin/bash\",\"-xc\"]}");
	free(got);
	assert_null(err);
	assert_int_equal(imgconfig_apply_instruction(&c, "RUN", "make", &err), -EOPNOTSUPP);
	berr_free(err);
	err = NULL;
	assert_int_equal(imgconfig_apply_instruction(&c, "SHELL", "/bin/bash", &err), -EINVAL);
	assert_string_equal(err->msg, "SHELL requires the arguments to be in JSON form");
	berr_free(err);
	json_decref(cfg);
}

static void test_split_words(void **state)
{
	static const struct {
		const char *in;
		const char *out[5];
	} cases[] = {
		{"a b  c", {"a", "b", "c"}},
		{"  a=\"x y\" b='p q'", {"a=\"x y\"", "b='p q'"}},
		{"a\\ b c", {"a\\ b", "c"}},
		{"\"\"", {"\"\""}},
		{"a=\"x\\\"y\" z", {"a=\"x\\\"y\"", "z"}},
		{"a\\", {"a"}},
		{"", {NULL}},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strv w = STRV_INIT;
		assert_int_equal(imgconfig_split_words(cases[i].in, &w), 0);
		size_t n = 0;
		while (cases[i].out[n])
			n++;
		if (w.n != n)
			fail_msg("case %zu (%s): %zu words, expected %zu", i, cases[i].in, w.n, n);
		for (size_t k = 0; k < n; k++)
			assert_string_equal(w.v[k], cases[i].out[k]);
		strv_free(&w);
	}
}

static void test_expand(void **state)
{
	char *env[] = {"A=1", "B=two words", "A=3", "E="};
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"$A", "3"},
		{"${A}x", "3x"},
		{"\"$B\"", "two words"},
		{"'$B'", "$B"},
		{"\\$A", "$A"},
		{"\"a\\\"b\\\\c\\d\"", "a\"b\\c\\d"},
		{"${E:-d}", "d"},
		{"${E-d}", ""},
		{"${U-d}", "d"},
		{"${A:+s}", "s"},
		{"${E:+s}", ""},
		{"${E+s}", "s"},
		{"$", "$"},
		{"a$", "a$"},
		{"$1x", "x"},
		{"${A:-${B}}", "3"},
		{"${U:-${B}}", "two words"},
		{"x\\", "x"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *out = NULL;
		struct berr *err = NULL;
		int r = imgconfig_expand_word(cases[i].in, env, ARRAY_SIZE(env), &out, &err);
		if (r < 0)
			fail_msg("case %zu (%s): %s", i, cases[i].in, err ? err->msg : "?");
		if (!streq(out, cases[i].out))
			fail_msg("case %zu (%s): got \"%s\", expected \"%s\"", i, cases[i].in, out,
				 cases[i].out);
		free(out);
	}
}

static void test_new_config(void **state)
{
	json_t *img = imgconfig_new("linux", "amd64", NULL, "2024-01-02T03:04:05Z", "Imported from -");
	assert_non_null(img);
	assert_int_equal(imgconfig_add_diff_id(img, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), 0);
	assert_int_equal(imgconfig_add_history(img, "2024-01-02T03:04:05Z", NULL, "Imported from -", 0), 0);
	char *s = json_dumps(img, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"architecture\":\"amd64\",\"comment\":\"Imported from -\",\"config\":{},"
			       "\"created\":\"2024-01-02T03:04:05Z\",\"history\":[{\"comment\":\"Imported from -\","
			       "\"created\":\"2024-01-02T03:04:05Z\"}],\"os\":\"linux\",\"rootfs\":{\"diff_ids\":"
			       "[\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"],"
			       "\"type\":\"layers\"}}");
	/* What we build, we can read back. */
	struct imgconfig_info info;
	assert_int_equal(imgconfig_parse(s, strlen(s), NULL, &info, NULL), 0);
	assert_string_equal(info.os, "linux");
	assert_string_equal(info.architecture, "amd64");
	assert_null(info.variant);
	assert_int_equal(info.diff_ids.n, 1);
	imgconfig_info_free(&info);
	free(s);
	json_decref(img);

	char *now = imgconfig_now();
	assert_non_null(now);
	/* 2024-01-02T03:04:05[.n]Z */
	assert_true(strlen(now) >= 20 && strlen(now) <= 30);
	assert_int_equal(now[strlen(now) - 1], 'Z');
	assert_int_equal(now[10], 'T');
	assert_true(now[strlen(now) - 2] != '0' || now[19] == 'Z');
	free(now);
}

static void test_platform(void **state)
{
	static const struct {
		const char *in, *os, *arch, *variant;
	} ok[] = {
		{"linux/amd64", "linux", "amd64", NULL},
		{"Linux/x86_64", "linux", "amd64", NULL},
		{"linux/aarch64", "linux", "arm64", NULL},
		{"linux/arm64/v8", "linux", "arm64", NULL},
		{"linux/arm", "linux", "arm", "v7"},
		{"linux/armhf", "linux", "arm", "v7"},
		{"linux/arm/v6", "linux", "arm", "v6"},
		{"linux/riscv64", "linux", "riscv64", NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		char *os, *arch, *variant;
		assert_int_equal(imgconfig_platform_parse(ok[i].in, &os, &arch, &variant, NULL), 0);
		assert_string_equal(os, ok[i].os);
		assert_string_equal(arch, ok[i].arch);
		if (ok[i].variant)
			assert_string_equal(variant, ok[i].variant);
		else
			assert_null(variant);
		free(os);
		free(arch);
		free(variant);
	}
	char *os, *arch, *variant;
	assert_int_equal(imgconfig_platform_parse("linux", &os, &arch, &variant, NULL), 0);
	assert_string_equal(arch, imgconfig_host_arch());
	free(os);
	free(arch);
	free(variant);
	static const char *bad[] = {"", "windows/amd64", "linux/", "linux//v7", "linux/a/b/c",
				    "linux/am d64", "/amd64"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct berr *err = NULL;
		if (imgconfig_platform_parse(bad[i], &os, &arch, &variant, &err) != -EINVAL)
			fail_msg("platform \"%s\" accepted", bad[i]);
		berr_free(err);
	}
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *json, *error;
	} cases[] = {
		{"", "invalid JSON"},
		{"[]", "not a JSON object"},
		{"{}", "\"rootfs\" is missing"},
		{"{\"rootfs\":[]}", "\"rootfs\" is missing or not an object"},
		{"{\"rootfs\":{\"type\":\"x\"}}", "rootfs.type"},
		{"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":{}}}", "rootfs.diff_ids is not an array"},
		{"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[1]}}", "diff_ids[0] is not a valid digest"},
		{"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:abc\"]}}", "diff_ids[0] is not a valid digest"},
		{"{\"rootfs\":{\"type\":\"layers\"},\"os\":1}", "\"os\" is not a string"},
		{"{\"rootfs\":{\"type\":\"layers\"},\"architecture\":[]}", "\"architecture\" is not a string"},
		{"{\"rootfs\":{\"type\":\"layers\"},\"config\":\"x\"}", "\"config\" is not an object"},
		{"{\"rootfs\":{\"type\":\"layers\"},\"history\":{}}", "\"history\" is not an array"},
		{"{\"rootfs\":{\"type\":\"layers\"},\"history\":[1]}", "history[0] is not an object"},
		{"{\"rootfs\":{\"type\":\"layers\"},\"os\":\"a\",\"os\":\"b\"}", "invalid JSON"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct berr *err = NULL;
		struct imgconfig_info info;
		int r = imgconfig_parse(cases[i].json, strlen(cases[i].json), NULL, &info, &err);
		if (r != -EINVAL)
			fail_msg("case %zu (%s): returned %d", i, cases[i].json, r);
		if (!strstr(err->msg, cases[i].error))
			fail_msg("case %zu: error \"%s\", expected \"%s\"", i, err->msg, cases[i].error);
		berr_free(err);
	}
	/* Minimal valid config: no diff_ids at all is an image without layers. */
	struct imgconfig_info info;
	const char *min = "{\"rootfs\":{\"type\":\"layers\"},\"config\":null}";
	assert_int_equal(imgconfig_parse(min, strlen(min), NULL, &info, NULL), 0);
	assert_int_equal(info.diff_ids.n, 0);
	assert_null(info.os);
	imgconfig_info_free(&info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes),
		cmocka_unit_test(test_change_atomic),
		cmocka_unit_test(test_builder_mode),
		cmocka_unit_test(test_split_words),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_new_config),
		cmocka_unit_test(test_platform),
		cmocka_unit_test(test_parse_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
