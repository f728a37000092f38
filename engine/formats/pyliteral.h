/*
 * pyliteral.h — a parser for Python literal values (what ast.literal_eval
 * accepts minus sets, bytes, complex numbers and arithmetic): dict, list,
 * tuple, str, int, float, None, True, False.
 *
 * MNRE stores one Python dict per line, so this is how the engine reads it.
 * The tree lives in an arena owned by an mgv_pydoc; each parse replaces the
 * previous tree, so a loader parses many lines with one doc and no per-node
 * malloc. Strings are decoded to UTF-8 (escapes \\ \' \" \a \b \f \n \r \t
 * \v, \ooo, \xhh, \uXXXX, \UXXXXXXXX, backslash-newline; u/r prefixes;
 * adjacent literals concatenate; triple quotes). Errors read
 * "file:line:col: message" (1-based line and byte column).
 *
 * Differences from Python, on purpose: ints must fit in 64 bits; a dict keeps
 * duplicate keys (mgv_py_get finds the last, the one Python keeps); a
 * \uD83D\uDE00 surrogate pair combines into one character and a lone
 * surrogate is an error (so every string is valid UTF-8).
 */
#ifndef MGV_PYLITERAL_H
#define MGV_PYLITERAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum mgv_py_type {
    MGV_PY_NONE,
    MGV_PY_BOOL,
    MGV_PY_INT,
    MGV_PY_FLOAT,
    MGV_PY_STR,
    MGV_PY_LIST,
    MGV_PY_TUPLE,
    MGV_PY_DICT
} mgv_py_type;

typedef struct mgv_py mgv_py;
struct mgv_py {
    mgv_py_type type;
    int line, col;                  /* where the value starts */
    union {
        int boolean;
        int64_t integer;
        double number;
        struct { const char *s; size_t len; } str;      /* NUL-terminated too */
        struct { mgv_py **items; size_t n; } seq;       /* list and tuple */
        struct { mgv_py **keys, **values; size_t n; } dict;
    } v;
};

typedef struct mgv_pydoc mgv_pydoc;

mgv_pydoc *mgv_pydoc_new(void);
void mgv_pydoc_free(mgv_pydoc *doc);          /* NULL is fine */

/*
 * Parses exactly one literal from src[0..len) (surrounding whitespace and
 * # comments allowed; a bare top-level tuple "1, 2" too). file names the
 * source in messages (NULL: "<string>"); first_line is the line number of
 * src[0]. Returns the root, valid until the next parse with this doc or
 * mgv_pydoc_free; NULL with a message on error.
 */
const mgv_py *mgv_py_parse(mgv_pydoc *doc, const char *src, size_t len, const char *file,
                           int first_line);

/* Value of the last key equal to the string key in a dict, or NULL. */
const mgv_py *mgv_py_get(const mgv_py *dict, const char *key);
/* "None", "bool", "int", "float", "str", "list", "tuple", "dict". */
const char *mgv_py_type_name(mgv_py_type t);

#endif
