#ifndef KAKEHASHI_CSQLITE_SHIM_H
#define KAKEHASHI_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import.
static inline sqlite3_destructor_type kk_sqlite_transient(void) { return SQLITE_TRANSIENT; }
/// SQLITE_STATIC (a null destructor), for bindings whose buffer outlives the statement step.
static inline sqlite3_destructor_type kk_sqlite_static(void) { return SQLITE_STATIC; }
#endif
