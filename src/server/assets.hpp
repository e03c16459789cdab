#pragma once
// Files compiled into the binary (cmake/EmbedAssets.cmake): the web page and the OpenAPI document.
#include <string_view>

namespace mailsift::server::assets {
std::string_view page_html();     // src/server/page.html
std::string_view app_js();        // src/server/app.js
std::string_view openapi_json();  // docs/openapi.json
}  // namespace mailsift::server::assets
