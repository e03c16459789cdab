#include "server/job_body.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/system/errc.hpp>

namespace mailsift::server {

namespace {

constexpr std::string_view kShape = "the body must be an array of addresses or an object with an \"emails\" array";

}  // namespace

// The SAX handler (Boost.JSON basic_parser): a state machine over the two shapes we accept.
struct JobJsonReader::Handler {
  static constexpr std::size_t max_object_size = std::size_t{1} << 30;
  static constexpr std::size_t max_array_size = std::size_t{1} << 30;
  static constexpr std::size_t max_key_size = std::size_t{1} << 20;
  static constexpr std::size_t max_string_size = std::size_t{1} << 30;

  std::vector<std::string>& out;
  Params& params;
  std::size_t max_addresses;
  unsigned status = 400;
  std::string code, message;

  enum class Top { none, array, object } top = Top::none;
  int depth = 0;
  bool in_list = false;    // inside the array of addresses
  bool have_list = false;  // an object's "emails" array was seen
  std::string key, key_part, str;

  Handler(std::vector<std::string>& o, Params& p, std::size_t max) : out(o), params(p), max_addresses(max) {}

  bool fail(boost::system::error_code& ec, std::string m, unsigned st = 400, std::string c = "malformed_json") {
    status = st;
    code = std::move(c);
    message = std::move(m);
    ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return false;
  }
  bool not_address(boost::system::error_code& ec) { return fail(ec, "every address must be a JSON string"); }
  bool not_scalar(boost::system::error_code& ec) {
    return fail(ec, "member '" + key + "' must be a string or a number");
  }
  // A scalar value as text: an address in the list, a member of the top-level object, or a body
  // of the wrong shape.
  bool scalar(std::string text, bool is_string, bool is_null, boost::system::error_code& ec) {
    if (in_list) {
      if (!is_string) return not_address(ec);
      if (out.size() >= max_addresses)
        return fail(ec, "a job holds at most " + std::to_string(max_addresses) + " addresses", 413, "body_too_large");
      out.push_back(std::move(text));
      return true;
    }
    if (top == Top::object && depth == 1) {
      if (key == "emails") return fail(ec, std::string(kShape));
      if (!is_null) params[key] = std::move(text);
      return true;
    }
    return fail(ec, std::string(kShape));
  }

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code& ec) {
    if (top == Top::object && !have_list) return fail(ec, std::string(kShape));
    return true;
  }
  bool on_array_begin(boost::system::error_code& ec) {
    if (depth == 0) {
      top = Top::array;
      in_list = true;
    } else if (top == Top::object && depth == 1 && key == "emails") {
      in_list = true;
      have_list = true;
    } else if (in_list) {
      return not_address(ec);
    } else {
      return not_scalar(ec);
    }
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth;
    in_list = false;  // the list is the only array we enter
    return true;
  }
  bool on_object_begin(boost::system::error_code& ec) {
    if (depth == 0)
      top = Top::object;
    else if (in_list)
      return not_address(ec);
    else
      return not_scalar(ec);
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth;
    return true;
  }
  bool on_string_part(std::string_view s, std::size_t, boost::system::error_code&) {
    str.append(s);
    return true;
  }
  bool on_string(std::string_view s, std::size_t, boost::system::error_code& ec) {
    str.append(s);
    std::string v = std::move(str);
    str.clear();
    return scalar(std::move(v), true, false, ec);
  }
  bool on_key_part(std::string_view s, std::size_t, boost::system::error_code&) {
    key_part.append(s);
    return true;
  }
  bool on_key(std::string_view s, std::size_t, boost::system::error_code&) {
    key_part.append(s);
    key = std::move(key_part);
    key_part.clear();
    return true;
  }
  bool on_number_part(std::string_view, boost::system::error_code& ec) {
    // Refused at its first digits, not after a megabyte of them.
    if (in_list) return not_address(ec);
    return true;
  }
  bool on_int64(std::int64_t i, std::string_view, boost::system::error_code& ec) {
    return scalar(std::to_string(i), false, false, ec);
  }
  bool on_uint64(std::uint64_t u, std::string_view, boost::system::error_code& ec) {
    return scalar(std::to_string(u), false, false, ec);
  }
  bool on_double(double d, std::string_view, boost::system::error_code& ec) {
    return scalar(std::to_string(d), false, false, ec);
  }
  bool on_bool(bool b, boost::system::error_code& ec) { return scalar(b ? "true" : "false", false, false, ec); }
  bool on_null(boost::system::error_code& ec) { return scalar({}, false, true, ec); }
  bool on_comment_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_comment(std::string_view, boost::system::error_code&) { return true; }
};

struct JobJsonReader::Parser {
  boost::json::basic_parser<Handler> p;
  Parser(const boost::json::parse_options& o, std::vector<std::string>& out, Params& params, std::size_t max)
      : p(o, out, params, max) {}
};

JobJsonReader::JobJsonReader(std::vector<std::string>& addresses, Params& params, std::size_t max_addresses) {
  boost::json::parse_options po;
  po.max_depth = 32;
  parser_ = std::make_unique<Parser>(po, addresses, params, max_addresses);
}

JobJsonReader::~JobJsonReader() = default;

bool JobJsonReader::write(std::string_view slice, bool last) {
  static constexpr char kNone[1] = {0};
  boost::system::error_code ec;
  const char* data = slice.empty() ? kNone : slice.data();
  const std::size_t n = parser_->p.write_some(!last, data, slice.size(), ec);
  // Bytes left over: something after the document.
  if (!ec && n < slice.size()) ec = boost::json::error::extra_data;
  if (!ec) return true;
  const Handler& h = parser_->p.handler();
  if (!h.message.empty()) {
    status_ = h.status;
    code_ = h.code;
    message_ = h.message;
  } else {
    status_ = 400;
    code_ = "malformed_json";
    message_ = "the body is not valid JSON: " + ec.message();
  }
  return false;
}

}  // namespace mailsift::server
