#pragma once
// The HTTP server's static files, embedded at build time (cmake/EmbedAssets.cmake): the program
// never reads them from disk. Edit the files themselves; the build regenerates the definitions.
#include <string_view>

namespace mailsift::server::assets {

std::string_view page_html();     // src/server/page.html, served at GET /
std::string_view openapi_json();  // docs/openapi.json, served at GET /v1/openapi.json

}  // namespace mailsift::server::assets
