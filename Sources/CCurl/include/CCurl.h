#ifndef MIGRATOR_CCURL_H
#define MIGRATOR_CCURL_H

// libcurl opened at run time. curl.h still provides the types and constants, but the library is not
// linked: every function Swift calls goes through a table that dlopen/dlsym fill on first use, so a run
// that never talks to AWS (DATABASE_URL given) never loads libcurl nor its dependency chain.
//
// Swift must call only the migrator_curl_* functions below. The curl_* prototypes from curl.h are
// still visible, but calling one would need -lcurl, which nothing passes: the link fails.

#include <curl/curl.h>
#include <stddef.h>

// What dlopen opens by default: the soname the headers' ABI belongs to.
#if defined(__APPLE__)
#define MIGRATOR_CURL_LIBRARY "libcurl.4.dylib"
#else
#define MIGRATOR_CURL_LIBRARY "libcurl.so.4"
#endif

// The function table (opaque to Swift).
typedef struct migrator_curl migrator_curl;

// The process-wide libcurl: MIGRATOR_CURL_LIBRARY opened (RTLD_NOW | RTLD_LOCAL), every function
// looked up and curl_global_init(CURL_GLOBAL_ALL) called, all once (pthread_once) on the first call.
// NULL if any of it failed; migrator_curl_shared_error() then says why, in one line.
const migrator_curl *migrator_curl_shared(void);
const char *migrator_curl_shared_error(void);

// Opens `library` and looks up every function, without touching the shared table and without
// curl_global_init: for tests of the failure path (a name that does not exist). NULL on failure, with
// the reason in `error` (always NUL-terminated). A table it returns is never freed.
const migrator_curl *migrator_curl_open(const char *library, char *error, size_t error_size);

// The non-variadic functions, one to one.
CURL *migrator_curl_easy_init(const migrator_curl *curl);
void migrator_curl_easy_cleanup(const migrator_curl *curl, CURL *handle);
CURLcode migrator_curl_easy_perform(const migrator_curl *curl, CURL *handle);
const char *migrator_curl_easy_strerror(const migrator_curl *curl, CURLcode code);
struct curl_slist *migrator_curl_slist_append(const migrator_curl *curl, struct curl_slist *list, const char *string);
void migrator_curl_slist_free_all(const migrator_curl *curl, struct curl_slist *list);

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call. Each wrapper fixes the
// argument type, so the compiler checks what the C macro API would silently accept.

typedef size_t (*migrator_curl_data_callback)(char *data, size_t size, size_t count, void *context);

CURLcode migrator_curl_setopt_long(const migrator_curl *curl, CURL *handle, CURLoption option, long value);
CURLcode migrator_curl_setopt_string(const migrator_curl *curl, CURL *handle, CURLoption option, const char *value);
CURLcode migrator_curl_setopt_pointer(const migrator_curl *curl, CURL *handle, CURLoption option, void *value);
CURLcode migrator_curl_setopt_slist(
    const migrator_curl *curl, CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode migrator_curl_setopt_writefunction(
    const migrator_curl *curl, CURL *handle, migrator_curl_data_callback callback);
CURLcode migrator_curl_setopt_headerfunction(
    const migrator_curl *curl, CURL *handle, migrator_curl_data_callback callback);
CURLcode migrator_curl_setopt_postfieldsize(const migrator_curl *curl, CURL *handle, long size);

// Only plain HTTP(S), for the request and for anything it could redirect to: a hostile endpoint must not
// turn a credentials request into file:// or gopher://.
CURLcode migrator_curl_restrict_protocols(const migrator_curl *curl, CURL *handle);

CURLcode migrator_curl_getinfo_long(const migrator_curl *curl, CURL *handle, CURLINFO info, long *value);

#endif
