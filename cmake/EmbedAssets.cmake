# Turns the HTTP server's static files into one generated C++ source, so `mailsift serve` carries its
# web page (with its script and style sheet) and OpenAPI document and never reads files at run time. Each entry: the function's name in
# namespace mailsift::server::assets (declared in src/server/assets.hpp) and its file under the source
# tree. The generated file is rewritten (and recompiled) whenever one of the files changes.
set(MAILSIFT_EMBEDDED_ASSETS
  page_html     src/server/page.html
  app_js        src/server/app.js
  app_css       src/server/app.css
  openapi_json  docs/openapi.json
)

function(mailsift_embed_assets out_var)
  set(out ${CMAKE_BINARY_DIR}/generated/embedded_assets.cpp)
  set(deps)
  set(args)
  list(LENGTH MAILSIFT_EMBEDDED_ASSETS n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET MAILSIFT_EMBEDDED_ASSETS ${i} name)
    list(GET MAILSIFT_EMBEDDED_ASSETS ${j} file)
    list(APPEND deps ${CMAKE_SOURCE_DIR}/${file})
    list(APPEND args "${name}=${CMAKE_SOURCE_DIR}/${file}")
  endforeach()
  string(REPLACE ";" "," joined "${args}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DASSETS=${joined}" -P ${CMAKE_SOURCE_DIR}/cmake/write_embedded_assets.cmake
    DEPENDS ${deps} ${CMAKE_SOURCE_DIR}/cmake/write_embedded_assets.cmake
    COMMENT "Embedding the web page and the OpenAPI document"
    VERBATIM)
  # One literal per file, longer than the 65,536 characters -Wpedantic accepts quietly.
  set_source_files_properties(${out} PROPERTIES COMPILE_OPTIONS "-Wno-overlength-strings")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
