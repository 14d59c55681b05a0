/* fmt_template_parse on arbitrary bytes, then the header and a row rendered against fixed
 * objects and laid out with fmt_table. The same bytes also go through the RFC 3339 parser.
 * Nothing may crash or leak; a parsed template must render or fail with an error set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char object_json[] =
	"{\"ID\":\"sha256:0123\",\"Repository\":\"nginx\",\"Tag\":\"latest\",\"Size\":187000000,"
	"\"Ratio\":0.5,\"Nil\":null,\"Yes\":true,\"Word\":\"\\u00e9t\\u00e9 \\u65e5\","
	"\"Config\":{\"Env\":[\"A=1\",\"B=\\t\\n\"],\"Labels\":{\"k\":\"v\"},\"User\":\"\"},"
	"\"List\":[1,\"two\",null,{\"x\":[]}]}";
static const char headers_json[] =
	"{\"ID\":\"IMAGE ID\",\"Repository\":\"REPOSITORY\",\"Tag\":\"TAG\",\"Size\":\"SIZE\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *obj, *headers;
	static FILE *devnull;
	if (!obj) {
		obj = json_loads(object_json, 0, NULL);
		headers = json_loads(headers_json, 0, NULL);
		devnull = fopen("/dev/null", "w");
		if (!obj || !headers || !devnull)
			abort();
	}
	if (size > 8192)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	time_t t;
	if (fmt_parse_rfc3339(s, &t) == 0) {
		char *back = fmt_rfc3339_nano(t, 0);
		free(back);
	}

	struct fmt_template *tmpl = NULL;
	struct berr *err = NULL;
	if (fmt_template_parse(s, &tmpl, &err) < 0) {
		if (!err || tmpl)
			abort();
		berr_free(err);
		free(s);
		return 0;
	}
	struct fmt_table *table = fmt_table_new();
	struct buf line = BUF_INIT;
	if (fmt_template_is_table(tmpl)) {
		if (fmt_template_header(tmpl, headers, &line, &err) < 0)
			abort(); /* header rendering never fails */
		fmt_table_add(table, line.data);
		buf_reset(&line);
	}
	for (int i = 0; i < 2; i++) {
		int r = fmt_template_render(tmpl, i ? obj : NULL, &line, &err);
		if (r < 0) {
			if (!err || line.len != 0)
				abort();
			berr_free(err);
			err = NULL;
		} else {
			fmt_table_add(table, line.data ? line.data : "");
		}
		buf_reset(&line);
	}
	fmt_table_print(table, devnull);
	fmt_table_free(table);
	buf_free(&line);
	fmt_template_free(tmpl);
	free(s);
	return 0;
}
