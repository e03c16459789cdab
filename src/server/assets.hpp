#pragma once
// Files compiled into the binary (cmake/EmbedAssets.cmake): the web page, its script and style sheet, and the
// OpenAPI document.
#include <string_view>

namespace mailsift::server::assets {
std::string_view page_html();     // src/server/page.html
std::string_view app_js();        // src/server/app.js (the page's script)
std::string_view app_css();       // src/server/app.css (the page's style sheet)
std::string_view openapi_json();  // docs/openapi.json
}  // namespace mailsift::server::assets
