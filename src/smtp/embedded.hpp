#pragma once
// The SMTP reply phrase groups from data/smtp/reply_phrases.txt, compiled in (cmake/EmbedLists.cmake).
#include <string_view>

namespace mailsift::smtp::embedded {
extern const std::string_view reply_phrases;  // "group<TAB>phrase" lines, '#' comments
}  // namespace mailsift::smtp::embedded
