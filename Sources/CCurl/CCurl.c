#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct migrator_curl {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    CURLcode (*easy_perform)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
};

static void load_failed(const char *library, char *error, size_t error_size) {
    const char *reason = dlerror();
    snprintf(error, error_size, "cannot load libcurl (%s; on Debian and Ubuntu the package libcurl4): %s", library,
             reason ? reason : "unknown dlopen error");
}

const migrator_curl *migrator_curl_open(const char *library, char *error, size_t error_size) {
    if (error_size > 0) error[0] = '\0';
    // RTLD_LOCAL: libcurl's symbols (and its OpenSSL's) stay out of the global namespace, where they
    // could interpose on libpq's. RTLD_NOW: a missing symbol fails here, not in the middle of a request.
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        load_failed(library, error, error_size);
        return NULL;
    }
    migrator_curl *table = calloc(1, sizeof *table);
    if (table == NULL) {
        snprintf(error, error_size, "cannot load libcurl (%s): out of memory", library);
        dlclose(handle);
        return NULL;
    }
    // memcpy from the void * dlsym returns: ISO C has no cast from object to function pointer.
#define MIGRATOR_CURL_LOOKUP(field, name)                       \
    do {                                                        \
        void *symbol = dlsym(handle, name);                     \
        if (symbol == NULL) goto missing;                       \
        memcpy(&table->field, &symbol, sizeof table->field);    \
    } while (0)
    MIGRATOR_CURL_LOOKUP(global_init, "curl_global_init");
    MIGRATOR_CURL_LOOKUP(easy_init, "curl_easy_init");
    MIGRATOR_CURL_LOOKUP(easy_cleanup, "curl_easy_cleanup");
    MIGRATOR_CURL_LOOKUP(easy_perform, "curl_easy_perform");
    MIGRATOR_CURL_LOOKUP(easy_strerror, "curl_easy_strerror");
    MIGRATOR_CURL_LOOKUP(easy_setopt, "curl_easy_setopt");
    MIGRATOR_CURL_LOOKUP(easy_getinfo, "curl_easy_getinfo");
    MIGRATOR_CURL_LOOKUP(slist_append, "curl_slist_append");
    MIGRATOR_CURL_LOOKUP(slist_free_all, "curl_slist_free_all");
#undef MIGRATOR_CURL_LOOKUP
    return table;

missing:
    load_failed(library, error, error_size);
    free(table);
    dlclose(handle);
    return NULL;
}

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static const migrator_curl *shared_table;
static char shared_error[512];

static void shared_load(void) {
    const migrator_curl *table = migrator_curl_open(MIGRATOR_CURL_LIBRARY, shared_error, sizeof shared_error);
    if (table == NULL) return;
    // libcurl initialises its TLS backend process-wide and not thread-safely: once, here, before any
    // handle exists. CURL_GLOBAL_ALL is a macro expression, which Swift would not import anyway.
    CURLcode code = table->global_init(CURL_GLOBAL_ALL);
    if (code != CURLE_OK) {
        snprintf(shared_error, sizeof shared_error, "%s loaded, but curl_global_init failed: %s",
                 MIGRATOR_CURL_LIBRARY, table->easy_strerror(code));
        return;  // the table and the library stay: unloading libcurl is not safe
    }
    shared_table = table;
}

const migrator_curl *migrator_curl_shared(void) {
    pthread_once(&shared_once, shared_load);
    return shared_table;
}

const char *migrator_curl_shared_error(void) {
    pthread_once(&shared_once, shared_load);
    return shared_error;
}

CURL *migrator_curl_easy_init(const migrator_curl *curl) {
    return curl->easy_init();
}

void migrator_curl_easy_cleanup(const migrator_curl *curl, CURL *handle) {
    curl->easy_cleanup(handle);
}

CURLcode migrator_curl_easy_perform(const migrator_curl *curl, CURL *handle) {
    return curl->easy_perform(handle);
}

const char *migrator_curl_easy_strerror(const migrator_curl *curl, CURLcode code) {
    return curl->easy_strerror(code);
}

struct curl_slist *migrator_curl_slist_append(const migrator_curl *curl, struct curl_slist *list, const char *string) {
    return curl->slist_append(list, string);
}

void migrator_curl_slist_free_all(const migrator_curl *curl, struct curl_slist *list) {
    curl->slist_free_all(list);
}

CURLcode migrator_curl_setopt_long(const migrator_curl *curl, CURL *handle, CURLoption option, long value) {
    return curl->easy_setopt(handle, option, value);
}

CURLcode migrator_curl_setopt_string(const migrator_curl *curl, CURL *handle, CURLoption option, const char *value) {
    return curl->easy_setopt(handle, option, value);
}

CURLcode migrator_curl_setopt_pointer(const migrator_curl *curl, CURL *handle, CURLoption option, void *value) {
    return curl->easy_setopt(handle, option, value);
}

CURLcode migrator_curl_setopt_slist(
    const migrator_curl *curl, CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl->easy_setopt(handle, option, value);
}

CURLcode migrator_curl_setopt_writefunction(
    const migrator_curl *curl, CURL *handle, migrator_curl_data_callback callback) {
    return curl->easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

CURLcode migrator_curl_setopt_headerfunction(
    const migrator_curl *curl, CURL *handle, migrator_curl_data_callback callback) {
    return curl->easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}

CURLcode migrator_curl_setopt_postfieldsize(const migrator_curl *curl, CURL *handle, long size) {
    return curl->easy_setopt(handle, CURLOPT_POSTFIELDSIZE, size);
}

CURLcode migrator_curl_restrict_protocols(const migrator_curl *curl, CURL *handle) {
#if LIBCURL_VERSION_NUM >= 0x075500
    CURLcode code = curl->easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    if (code != CURLE_OK) return code;
    return curl->easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    CURLcode code = curl->easy_setopt(handle, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    if (code != CURLE_OK) return code;
    return curl->easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

CURLcode migrator_curl_getinfo_long(const migrator_curl *curl, CURL *handle, CURLINFO info, long *value) {
    return curl->easy_getinfo(handle, info, value);
}
