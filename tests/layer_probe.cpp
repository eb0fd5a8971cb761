// Built only by the test layering.upper_include_fails: a registry source that includes an
// http header must not compile, since servreg_registry does not link servreg_http.
#include "servreg/registry/index.h"
#include "servreg/http/router.h"
