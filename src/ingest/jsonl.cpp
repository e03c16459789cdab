// JSONL input. This is the one translation unit that compiles Boost.JSON (header-only through
// <boost/json/src.hpp>: Debian 12 packages no libboost_json). Lines go through boost::json's
// basic_parser with a handler that keeps only the top-level string members: no DOM is built, the
// line is already bounded by max_record_bytes, and nesting is bounded by parse_options::max_depth.
#include <boost/json/src.hpp>

#include <string>
#include <utility>
#include <vector>

#include "common/text.hpp"
#include "ingest/csv.hpp"
#include "ingest/lines.hpp"

namespace mailsift::ingest::detail {
namespace {

constexpr std::size_t kMaxDepth = 64;

namespace json = boost::json;

// Collects the top-level members of an object whose values are strings; notes the others' names.
struct Handler {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  struct Member {
    std::string key;
    std::string value;
    bool is_string = false;
  };
  std::vector<Member> members;  // top level only
  std::size_t count = 0;        // members in use (capacity is reused across lines)
  std::size_t depth = 0;
  bool object = false;  // the document is an object
  std::string key, value;

  void reset() {
    count = 0;
    depth = 0;
    object = false;
    key.clear();
    value.clear();
  }
  void member(bool is_string) {
    if (count == members.size()) members.emplace_back();
    Member& m = members[count++];
    m.key.swap(key);
    m.is_string = is_string;
    if (is_string) m.value.swap(value);
    else m.value.clear();
    key.clear();
    value.clear();
  }
  // A scalar or container value starting at `depth`.
  void scalar() {
    if (depth == 1) member(false);
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) {
    if (depth == 1) member(false);
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    --depth;
    return true;
  }
  bool on_object_begin(json::error_code&) {
    if (depth == 0) object = true;
    if (depth == 1) member(false);
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    --depth;
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1) value.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1) {
      value.append(s.data(), s.size());
      member(true);
    }
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1) key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (depth == 1) key.append(s.data(), s.size());
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) {
    scalar();
    return true;
  }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) {
    scalar();
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    scalar();
    return true;
  }
  bool on_bool(bool, json::error_code&) {
    scalar();
    return true;
  }
  bool on_null(json::error_code&) {
    scalar();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    if (text::decode_utf8(s, i) < 0) return false;
  }
  return true;
}

json::parse_options options() {
  json::parse_options o;
  o.max_depth = kMaxDepth;
  return o;
}

class JsonlReader final : public Reader {
 public:
  JsonlReader(std::unique_ptr<Input> in, const InputOptions& o)
      : in_(std::move(in)), max_(o.max_record_bytes), field_(o.field), parser_(options()) {
    in_->skip_bom();
  }

  bool next(Record& r) override {
    r.email.clear();
    r.error.clear();
    r.fields.clear();
    r.json_object = false;
    bool over = false;
    if (!read_line(*in_, r.json, max_, over)) return false;
    r.number = r.line = ++n_;
    if (over) {
      r.error = over_message(max_);
      return true;
    }
    if (text::trim_blanks(r.json).empty()) {
      r.error = "empty line";
      return true;
    }
    Handler& h = parser_.handler();
    h.reset();
    parser_.reset();
    json::error_code ec;
    const std::size_t used = parser_.write_some(false, r.json.data(), r.json.size(), ec);
    if (!ec && used != r.json.size()) ec = json::error::extra_data;
    if (ec) {
      if (!valid_utf8(r.json)) r.error = "not UTF-8";
      else if (ec == json::error::too_deep) r.error = "JSON nested too deep";
      else r.error = "malformed JSON";
      return true;
    }
    if (!h.object) {
      r.error = "not a JSON object";
      return true;
    }
    r.json_object = true;
    const Handler::Member* found = find(h);
    if (found == nullptr) r.error = "no email field";
    else if (!found->is_string) r.error = "email field is not a string";
    else r.email = text::trim_blanks(found->value);
    return true;
  }

  [[nodiscard]] Format format() const noexcept override { return Format::jsonl; }
  [[nodiscard]] std::uint64_t bytes_read() const noexcept override { return in_->consumed(); }
  [[nodiscard]] std::uint64_t total_bytes() const noexcept override { return in_->total(); }

 private:
  // --field: the member of that name (exact, else ASCII case-insensitive). Detection: the string
  // member with the best-ranked email name; else the first string member that looks like an address.
  const Handler::Member* find(const Handler& h) const {
    const Handler::Member* best = nullptr;
    if (!field_.empty()) {
      for (std::size_t i = 0; i < h.count; ++i)
        if (h.members[i].key == field_) return &h.members[i];
      for (std::size_t i = 0; i < h.count; ++i)
        if (text::iequals_ascii(h.members[i].key, field_)) return &h.members[i];
      return nullptr;
    }
    int best_rank = 1 << 30;
    for (std::size_t i = 0; i < h.count; ++i) {
      if (!h.members[i].is_string) continue;
      const int rank = email_name_rank(h.members[i].key, true);
      if (rank >= 0 && rank < best_rank) {
        best = &h.members[i];
        best_rank = rank;
      }
    }
    if (best) return best;
    for (std::size_t i = 0; i < h.count; ++i)
      if (h.members[i].is_string && looks_like_address(h.members[i].value)) return &h.members[i];
    return nullptr;
  }

  std::unique_ptr<Input> in_;
  std::size_t max_;
  std::string field_;
  json::basic_parser<Handler> parser_;
  std::uint64_t n_ = 0;
};

}  // namespace

std::unique_ptr<Reader> make_jsonl_reader(std::unique_ptr<Input> in, const InputOptions& o) {
  return std::make_unique<JsonlReader>(std::move(in), o);
}

}  // namespace mailsift::ingest::detail
