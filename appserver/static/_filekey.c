/* appserver.static._filekey: the C twin of appserver.static.cache.file_key_python.
 *
 * file_key(path) stats path (following symbolic links, as os.stat does) and
 * returns (st_ino, st_dev, st_size, st_mtime_ns, st_ctime_ns), the tuple
 * cache.stat_key makes of an os.stat result, equal to it field by field.
 * It raises what os.stat raises: OSError (errno and the file name) when the
 * stat fails, ValueError for a path with a NUL byte. It saves the cached
 * static answer building the whole os.stat_result (its times as floats and
 * as nanosecond integers, each made with Python integer arithmetic) only to
 * compare five of its fields.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/stat.h>

/* sec * 10**9 + nsec as a Python int, as os.stat's st_*_ns. */
static PyObject *
nanoseconds(long long sec, long nsec)
{
    long long ns;
    if (!__builtin_mul_overflow(sec, 1000000000LL, &ns)
            && !__builtin_add_overflow(ns, (long long)nsec, &ns))
        return PyLong_FromLongLong(ns);
    /* Past the year 2262: Python's integers, as os.stat does. */
    PyObject *s = PyLong_FromLongLong(sec), *billion = PyLong_FromLong(1000000000L);
    PyObject *n = PyLong_FromLong(nsec), *product = NULL, *result = NULL;
    if (s != NULL && billion != NULL && n != NULL)
        product = PyNumber_Multiply(s, billion);
    if (product != NULL)
        result = PyNumber_Add(product, n);
    Py_XDECREF(s);
    Py_XDECREF(billion);
    Py_XDECREF(n);
    Py_XDECREF(product);
    return result;
}

static PyObject *
file_key(PyObject *module, PyObject *arg)
{
    PyObject *encoded = NULL;
    struct stat st;
    int failed;
    (void)module;
    if (!PyUnicode_FSConverter(arg, &encoded))
        return NULL;        /* not a path, or a NUL in it: ValueError */
    Py_BEGIN_ALLOW_THREADS
    failed = stat(PyBytes_AS_STRING(encoded), &st);
    Py_END_ALLOW_THREADS
    Py_DECREF(encoded);
    if (failed)
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, arg);
    PyObject *mtime = nanoseconds((long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    PyObject *ctime = nanoseconds((long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    if (mtime == NULL || ctime == NULL) {
        Py_XDECREF(mtime);
        Py_XDECREF(ctime);
        return NULL;
    }
    PyObject *key = PyTuple_New(5);
    if (key == NULL) {
        Py_DECREF(mtime);
        Py_DECREF(ctime);
        return NULL;
    }
    PyTuple_SET_ITEM(key, 3, mtime);
    PyTuple_SET_ITEM(key, 4, ctime);
    PyObject *items[3] = {PyLong_FromUnsignedLongLong((unsigned long long)st.st_ino),
                          PyLong_FromUnsignedLongLong((unsigned long long)st.st_dev),
                          PyLong_FromLongLong((long long)st.st_size)};
    for (int i = 0; i < 3; i++) {
        if (items[i] == NULL) {
            for (int j = i + 1; j < 3; j++)
                Py_XDECREF(items[j]);
            Py_DECREF(key);     /* and the items already in it */
            return NULL;
        }
        PyTuple_SET_ITEM(key, i, items[i]);
    }
    return key;
}

static PyMethodDef methods[] = {
    {"file_key", file_key, METH_O,
     "file_key(path): (st_ino, st_dev, st_size, st_mtime_ns, st_ctime_ns) of os.stat(path)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "appserver.static._filekey",
    "C twin of appserver.static.cache.file_key_python.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__filekey(void)
{
    return PyModule_Create(&module);
}
