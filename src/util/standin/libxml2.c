/* berth-libxml2-off.so: loaded in libxml2's place before libarchive (src/util/lazy.c).
 *
 * Debian's libarchive links libxml2 for the xar format, and libxml2 brings ICU and
 * libstdc++: loading libarchive took 1.2-1.6 ms, 0.8 ms of it for those three, in every
 * command that reads or writes a tar (commit, pull, load, save, import, cp, export, diff).
 * berth enables the tar format only (pax to write), so libarchive never calls libxml2.
 * This library has libxml2's SONAME (libxml2.so.2) and the 25 names libarchive 3.6 imports
 * from it under their symbol versions (libxml2.map); a loaded object whose SONAME matches a
 * DT_NEEDED name satisfies it, so with this loaded first libarchive loads in about 0.47 ms.
 * Every function fails: a null pointer, -1, or nothing. A libarchive that needs a name
 * this file lacks fails to load against it, and berth_lazy_load_with() then loads it with
 * the real libxml2. Nothing else berth loads links libxml2. */
#include <stddef.h>

#define NULL_OF(name)                                                                              \
	void *name(void);                                                                          \
	void *name(void)                                                                           \
	{                                                                                          \
		return NULL;                                                                       \
	}
#define FAIL(name)                                                                                 \
	int name(void);                                                                            \
	int name(void)                                                                             \
	{                                                                                          \
		return -1;                                                                         \
	}
#define NOTHING(name)                                                                              \
	void name(void);                                                                           \
	void name(void)                                                                            \
	{                                                                                          \
	}

NULL_OF(xmlBufferCreate)
NULL_OF(xmlNewTextWriterMemory)
NULL_OF(xmlReaderForIO)
NULL_OF(xmlTextReaderConstLocalName)
NULL_OF(xmlTextReaderConstValue)

FAIL(UTF8Toisolat1)
FAIL(xmlTextReaderIsEmptyElement)
FAIL(xmlTextReaderMoveToFirstAttribute)
FAIL(xmlTextReaderMoveToNextAttribute)
FAIL(xmlTextReaderNodeType)
FAIL(xmlTextReaderRead)
FAIL(xmlTextWriterEndDocument)
FAIL(xmlTextWriterEndElement)
FAIL(xmlTextWriterSetIndent)
FAIL(xmlTextWriterStartDocument)
FAIL(xmlTextWriterStartElement)
FAIL(xmlTextWriterWriteAttribute)
FAIL(xmlTextWriterWriteBase64)
FAIL(xmlTextWriterWriteFormatAttribute)
FAIL(xmlTextWriterWriteString)

NOTHING(xmlBufferFree)
NOTHING(xmlCleanupParser)
NOTHING(xmlFreeTextReader)
NOTHING(xmlFreeTextWriter)
NOTHING(xmlTextReaderSetErrorHandler)
