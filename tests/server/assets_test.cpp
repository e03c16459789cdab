// The embedded assets (cmake/EmbedAssets.cmake) are the files, byte for byte.
#include "server/assets.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(Assets, PageIsTheFile) {
  const auto file = read_file(MAILSIFT_SOURCE_DIR "/src/server/page.html");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(mailsift::server::assets::page_html(), file);
  EXPECT_TRUE(mailsift::server::assets::page_html().starts_with("<!doctype html>"));
}

TEST(Assets, PageScriptAndStyleAreTheFiles) {
  const auto js = read_file(MAILSIFT_SOURCE_DIR "/src/server/app.js");
  const auto css = read_file(MAILSIFT_SOURCE_DIR "/src/server/app.css");
  ASSERT_FALSE(js.empty());
  ASSERT_FALSE(css.empty());
  EXPECT_EQ(mailsift::server::assets::app_js(), js);
  EXPECT_EQ(mailsift::server::assets::app_css(), css);
  // The page loads them and holds no script or style of its own (its CSP has no 'unsafe-inline').
  const std::string_view page = mailsift::server::assets::page_html();
  EXPECT_NE(page.find("<script src=\"/app.js\""), std::string_view::npos);
  EXPECT_NE(page.find("<link rel=\"stylesheet\" href=\"/app.css\">"), std::string_view::npos);
  EXPECT_EQ(page.find("<script>"), std::string_view::npos);
  EXPECT_EQ(page.find("<style"), std::string_view::npos);
  EXPECT_EQ(page.find(" style="), std::string_view::npos);
}

TEST(Assets, OpenApiIsTheFile) {
  const auto file = read_file(MAILSIFT_SOURCE_DIR "/docs/openapi.json");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(mailsift::server::assets::openapi_json(), file);
  EXPECT_NE(mailsift::server::assets::openapi_json().find("\"openapi\": \"3.0.3\""), std::string_view::npos);
}

}  // namespace
