/* appserver.http._plain: the C twin of appserver.http.plain.split_python.
 *
 * split(buf, size, max_fields) looks at buf[:size], a request head up to and
 * including the CRLF of its last field line. If the head is plainly well
 * formed (see plain.py: "token SP origin-form-target SP HTTP/1.x", at most
 * max_fields "token:value" lines, no control bytes, no folding, no
 * whitespace before a CRLF, no "_" in a field name, not CONNECT) it returns
 * (method, target, path, query, version, line, headers, groups) exactly as
 * split_python does; otherwise None. It only reads the buffer; every byte
 * it reads is inside buf[:size]. Equal, not always new: a common method,
 * version or field name is one str made at import and shared, and a target
 * without a query is also its path (str objects are immutable).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Byte classes, from the regexes of plain.py. */
#define TCHAR 1     /* token: !#$%&'*+-.^_`|~ DIGIT ALPHA */
#define PATH 2      /* origin-form path: VCHAR but "#" and "?" */
#define QUERY 4     /* query: VCHAR but "#" */
#define VALUE 8     /* field value: HTAB, SP, VCHAR, obs-text */
#define VISIBLE 16  /* a field value's last byte: VCHAR, obs-text */

static unsigned char classes[256];

/* The fields head.semantics needs (body.SPECIAL_FIELDS), lower case. */
static const char *special_names[] = {
    "host", "content-length", "transfer-encoding", "connection", "expect",
    "content-type", NULL};
static PyObject *special_keys[6];

static void
init_classes(void)
{
    const char *tchar_extra = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c != 0 && strchr(tchar_extra, c) != NULL))
            k |= TCHAR;
        if (c >= 0x21 && c <= 0x7e && c != '#') {
            k |= QUERY;
            if (c != '?')
                k |= PATH;
        }
        if (c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80)
            k |= VALUE;
        if ((c >= 0x21 && c <= 0x7e) || c >= 0x80)
            k |= VISIBLE;
        classes[c] = k;
    }
}

/* The index of special_keys for a field name, or -1. */
static int
special_index(const unsigned char *name, Py_ssize_t n)
{
    for (int i = 0; special_names[i] != NULL; i++) {
        const char *s = special_names[i];
        if ((Py_ssize_t)strlen(s) != n)
            continue;
        Py_ssize_t j = 0;
        while (j < n && (name[j] | 0x20) == (unsigned char)s[j])
            j++;
        if (j == n)
            return i;
    }
    return -1;
}

static PyObject *
text(const unsigned char *p, Py_ssize_t n)
{
    return PyUnicode_DecodeLatin1((const char *)p, n, NULL);
}

/* Parts most heads share (methods, versions, field names), made once: a
   head that has one gets the same str object again instead of a new copy. */
static const char *common_texts[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HTTP/1.1", "HTTP/1.0",
    "Host", "host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language",
    "Connection", "Content-Type", "Content-Length", NULL};
#define COMMON_MAX 18
static PyObject *common_objects[COMMON_MAX];
static Py_ssize_t common_lengths[COMMON_MAX];

/* text(p, n), the shared object when it is one of common_texts. */
static PyObject *
common_text(const unsigned char *p, Py_ssize_t n)
{
    for (int i = 0; common_texts[i] != NULL; i++) {
        if (common_lengths[i] == n && memcmp(common_texts[i], p, n) == 0) {
            Py_INCREF(common_objects[i]);
            return common_objects[i];
        }
    }
    return text(p, n);
}

/* A new tuple of n references (stolen); NULL, with them released, on error. */
static PyObject *
tuple_of(Py_ssize_t n, PyObject **items)
{
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL)
            goto fail;
    tuple = PyTuple_New(n);
    if (tuple == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* Scan bytes of class k from p (bounded by end); returns where it stopped. */
static const unsigned char *
scan(const unsigned char *p, const unsigned char *end, unsigned char k)
{
    while (p < end && (classes[*p] & k))
        p++;
    return p;
}

/* Add value to groups[key] (a list, made on first use); 0, or -1 on error. */
static int
group_add(PyObject *groups, PyObject *key, PyObject *value)
{
    PyObject *list = PyDict_GetItemWithError(groups, key);
    if (list != NULL)
        return PyList_Append(list, value);
    if (PyErr_Occurred())
        return -1;
    list = PyList_New(1);
    if (list == NULL)
        return -1;
    Py_INCREF(value);
    PyList_SET_ITEM(list, 0, value);
    int rc = PyDict_SetItem(groups, key, list);
    Py_DECREF(list);
    return rc;
}

/* The field lines in [p, end); 1 if plain (headers and groups filled),
   0 if not, -1 on error. */
static int
split_fields(const unsigned char *p, const unsigned char *end, Py_ssize_t max_fields,
             PyObject *headers, PyObject *groups)
{
    Py_ssize_t count = 0;
    while (p < end) {
        const unsigned char *name = p;
        p = scan(p, end, TCHAR);
        Py_ssize_t name_len = p - name;
        if (name_len == 0 || p >= end || *p != ':')
            return 0;
        p++;                                /* the colon */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const unsigned char *value = p;
        p = scan(p, end, VALUE);
        Py_ssize_t value_len = p - value;
        if (value_len > 0 && !(classes[value[value_len - 1]] & VISIBLE))
            return 0;                       /* whitespace before the CRLF */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return 0;
        p += 2;
        if (++count > max_fields)
            return 0;
        int special = special_index(name, name_len);
        if (special < 0 && memchr(name, '_', name_len) != NULL)
            return 0;
        PyObject *parts[2] = {common_text(name, name_len), text(value, value_len)};
        PyObject *pair = tuple_of(2, parts);
        if (pair == NULL)
            return -1;
        int rc = PyList_Append(headers, pair);
        if (rc == 0 && special >= 0)
            rc = group_add(groups, special_keys[special], PyTuple_GET_ITEM(pair, 1));
        Py_DECREF(pair);
        if (rc < 0)
            return -1;
    }
    return 1;
}

static PyObject *
split(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t size, max_fields;
    PyObject *result = NULL, *headers = NULL, *groups = NULL;

    (void)module;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "split() takes 3 arguments");
        return NULL;
    }
    size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    max_fields = PyLong_AsSsize_t(args[2]);
    if (max_fields == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (size < 0 || size > view.len) {
        PyErr_SetString(PyExc_ValueError, "size out of the buffer");
        goto done;
    }
    const unsigned char *start = view.buf, *end = start + size, *p = start;

    /* Request line: method SP path [? query] SP HTTP/1.x CRLF */
    const unsigned char *method = p;
    p = scan(p, end, TCHAR);
    const unsigned char *method_end = p;
    if (p == method || p >= end || *p != ' ')
        goto not_plain;
    const unsigned char *target = ++p;
    if (p >= end || *p != '/')
        goto not_plain;
    p = scan(p + 1, end, PATH);
    const unsigned char *path_end = p, *query = NULL;
    if (p < end && *p == '?') {
        query = p + 1;
        p = scan(query, end, QUERY);
    }
    const unsigned char *target_end = p;
    if (end - p < 11 || p[0] != ' ' || memcmp(p + 1, "HTTP/1.", 7) != 0
            || (p[8] != '0' && p[8] != '1') || p[9] != '\r' || p[10] != '\n')
        goto not_plain;
    const unsigned char *version = p + 1;
    p += 11;
    if (method_end - method == 7 && memcmp(method, "CONNECT", 7) == 0)
        goto not_plain;

    headers = PyList_New(0);
    groups = PyDict_New();
    if (headers == NULL || groups == NULL)
        goto done;
    int plain = split_fields(p, end, max_fields, headers, groups);
    if (plain < 0)
        goto done;
    if (plain == 0)
        goto not_plain;
    PyObject *whole = text(target, target_end - target);
    if (whole != NULL && query == NULL)
        Py_INCREF(whole);       /* the path is the whole target */
    Py_INCREF(headers);
    Py_INCREF(groups);
    PyObject *parts[8] = {
        common_text(method, method_end - method), whole,
        query == NULL ? whole : text(target, path_end - target),
        query == NULL ? PyUnicode_New(0, 0) : text(query, target_end - query),
        common_text(version, 8), text(start, (version + 8) - start), headers, groups};
    result = tuple_of(8, parts);
    goto done;
not_plain:
    Py_INCREF(Py_None);
    result = Py_None;
done:
    Py_XDECREF(headers);
    Py_XDECREF(groups);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"split", (PyCFunction)(void (*)(void))split, METH_FASTCALL,
     "split(buf, size, max_fields): the parts of a plainly well-formed head, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "appserver.http._plain",
    "C twin of appserver.http.plain.split_python.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__plain(void)
{
    init_classes();
    for (int i = 0; common_texts[i] != NULL; i++) {
        if (common_objects[i] == NULL) {
            common_lengths[i] = (Py_ssize_t)strlen(common_texts[i]);
            common_objects[i] = PyUnicode_InternFromString(common_texts[i]);
            if (common_objects[i] == NULL)
                return NULL;
        }
    }
    for (int i = 0; special_names[i] != NULL; i++) {
        if (special_keys[i] == NULL) {
            special_keys[i] = PyUnicode_InternFromString(special_names[i]);
            if (special_keys[i] == NULL)
                return NULL;
        }
    }
    return PyModule_Create(&module);
}
