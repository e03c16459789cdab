# Turns the reference lists in data/ into one generated C++ source, so the installed program carries
# its domain knowledge and never reads data files at run time (run-time files only extend it).
# Each entry: the variable's name inside namespace mailsift (declared extern in the header listed in
# MAILSIFT_EMBEDDED_HEADERS) and its file under data/.
set(MAILSIFT_EMBEDDED_LISTS
  domain::embedded::disposable_blocklist   lists/disposable_blocklist.txt
  domain::embedded::disposable_allowlist   lists/disposable_allowlist.txt
  domain::embedded::disposable_wildcard    lists/disposable_wildcard.txt
  domain::embedded::disposable_extended    lists/disposable_extended.txt
  domain::embedded::disposable_mailchecker lists/disposable_mailchecker.txt
  domain::embedded::free_providers         lists/free_providers_not_disposable.txt
  domain::embedded::popular_domains        lists/popular_mailbox_domains.txt
  domain::embedded::role_local_parts       lists/role_local_parts.csv
  domain::embedded::typo_tlds              typo/mailcheck_top_level_domains.txt
  domain::embedded::typo_slds              typo/mailcheck_second_level_domains.txt
  domain::embedded::typo_domains           typo/email_misspelled_domains.csv
  smtp::embedded::reply_phrases            smtp/reply_phrases.txt
)
set(MAILSIFT_EMBEDDED_HEADERS domain/embedded_lists.hpp smtp/embedded.hpp)

function(mailsift_embed_lists out_var)
  set(out ${CMAKE_BINARY_DIR}/generated/embedded_lists.cpp)
  set(deps)
  set(args)
  list(LENGTH MAILSIFT_EMBEDDED_LISTS n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET MAILSIFT_EMBEDDED_LISTS ${i} name)
    list(GET MAILSIFT_EMBEDDED_LISTS ${j} file)
    list(APPEND deps ${CMAKE_SOURCE_DIR}/data/${file})
    list(APPEND args "${name}=${CMAKE_SOURCE_DIR}/data/${file}")
  endforeach()
  string(REPLACE ";" "," joined "${args}")
  string(REPLACE ";" "," headers "${MAILSIFT_EMBEDDED_HEADERS}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DLISTS=${joined}" "-DHEADERS=${headers}" -P ${CMAKE_SOURCE_DIR}/cmake/write_embedded_lists.cmake
    DEPENDS ${deps} ${CMAKE_SOURCE_DIR}/cmake/write_embedded_lists.cmake
    COMMENT "Embedding reference lists"
    VERBATIM)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
