// The writers: every record gives one row, input data kept byte for byte, results appended.
#include <gtest/gtest.h>

// Boost.JSON's compiled part is in mailsift_core (src/ingest/jsonl.cpp); this only declares it.
#include <boost/json.hpp>
#include <zlib.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "ingest/helpers.hpp"
#include "ingest/writer.hpp"
#include "verdict/render.hpp"

namespace mailsift::ingest {
namespace {

using V = std::vector<std::string>;
namespace json = boost::json;

// Reads `in`, writes each record with its offline verdict; the second occurrence of an address is
// marked duplicate.
std::string convert(const std::string& in, Format from, Format to, const InputOptions& o = {}) {
  auto r = Reader::from_memory(in, from, o);
  std::string out;
  OutputOptions oo;
  oo.format = to;
  auto w = Writer::to_string(out, oo, r.get());
  Record rec;
  std::vector<std::string> seen;
  while (r->next(rec)) {
    const bool dup = std::find(seen.begin(), seen.end(), rec.email) != seen.end();
    seen.push_back(rec.email);
    w->write(rec, test::verdict(rec.email), dup);
  }
  w->close();
  return out;
}

// The input columns a CSV writer for `in` keeps (read as CSV with `o`).
std::size_t csv_input_columns(const std::string& in, const InputOptions& o = {}) {
  auto r = Reader::from_memory(in, Format::csv, o);
  std::string out;
  OutputOptions oo;
  oo.format = Format::csv;
  return Writer::to_string(out, oo, r.get())->input_columns();
}

std::vector<std::string> result_names() {
  std::vector<std::string> n;
  for (const std::string_view c : render::csv_result_columns()) n.emplace_back(c);
  n.emplace_back("duplicate");
  return n;
}

TEST(Render, CsvPiecesMakeTheExistingCsv) {
  std::string header;
  render::append_csv_header(header);
  EXPECT_EQ(header,
            "email,normalized,canonical,status,reason,score,domain,registrable_domain,disposable,role,free,"
            "smtputf8,quoted_local,address_literal,suspicious,blocklisted,catch_all,suggestion,checks\n");
  const Result r = test::verdict("\"q,r\"@gmail.com");
  std::string whole, parts;
  render::append_csv(r, whole);
  render::append_csv_field(r.email, parts);
  parts.push_back(',');
  render::append_csv_result(r, parts);
  parts.push_back('\n');
  EXPECT_EQ(whole, parts);
  EXPECT_NE(whole.find(",syntax;domain\n"), std::string::npos) << whole;
  // With ';' as the delimiter, fields holding ';' are quoted.
  std::string semi;
  render::append_csv_result(r, semi, ';');
  EXPECT_NE(semi.find(";\"syntax;domain\""), std::string::npos) << semi;
}

// The field writer scans 16 bytes at a time: a special byte at every position of every length
// around the block size, for each delimiter, against the RFC 4180 rule written out plainly.
TEST(Render, CsvFieldQuotesExactlyWhenNeeded) {
  const auto reference = [](std::string_view s, char d) {
    bool quote = false;
    for (const char c : s) quote |= c == d || c == '"' || c == '\n' || c == '\r';
    quote |= !s.empty() && s[0] == '\0';  // a UTF-32 BOM's first byte (see the next test)
    if (!quote) return std::string(s);
    std::string q = "\"";
    for (const char c : s) {
      if (c == '"') q.push_back('"');
      q.push_back(c);
    }
    return q + "\"";
  };
  for (const char d : {',', ';', '\t', '|'}) {
    for (std::size_t n = 0; n <= 40; ++n) {
      const std::string plain(n, 'a');
      std::string got;
      render::append_csv_field(plain, got, d, render::CsvCells::raw);
      EXPECT_EQ(got, plain) << n;
      for (std::size_t at = 0; at < n; ++at) {
        for (const char special : {d, '"', '\n', '\r', ',', ';', '\t', '\0'}) {
          std::string s = plain;
          s[at] = special;
          got.clear();
          render::append_csv_field(s, got, d, render::CsvCells::raw);  // RFC 4180 alone: see below for safe
          ASSERT_EQ(got, reference(s, d)) << "delimiter " << int(d) << " length " << n << " at " << at << " byte "
                                          << int(special);
        }
      }
    }
  }
  // Doubled quotes keep the rest of the field, and the raw form writes the same bytes.
  std::string got;
  render::append_csv_field("a\"\"b\"", got, ',');
  EXPECT_EQ(got, "\"a\"\"\"\"b\"\"\"");
  char raw[render::csv_field_bound(5)];
  const char* end = render::write_csv_field("a\"\"b\"", raw, ',');
  EXPECT_EQ(std::string_view(raw, static_cast<std::size_t>(end - raw)), got);
}

// A field starting like a byte order mark is quoted in both modes: at the start of a file a reader
// would take it for the encoding (found by fuzz_csv: a UTF-8 file whose first field began with the
// bytes FE FF read back as UTF-16).
TEST(Render, CsvFieldsStartingLikeAByteOrderMarkAreQuoted) {
  for (const std::string& in : {std::string("\xFE\xFFx"), std::string("\xFF\xFEx"), std::string("\0\0\xFE\xFF", 4),
                                std::string("\xEF\xBB\xBFx")}) {
    for (const auto cells : {render::CsvCells::safe, render::CsvCells::raw}) {
      std::string out;
      render::append_csv_field(in, out, ',', cells);
      EXPECT_EQ(out, "\"" + in + "\"");
    }
  }
  std::string out;
  render::append_csv_field("\xEF\xBD\x85x", out);  // U+FF45 is text: only a whole BOM counts
  EXPECT_EQ(out, "\xEF\xBD\x85x");
}

// OWASP "CSV Injection": a field starting with = + - @ TAB or CR gets a "'" and quotes; the
// rest of the field is RFC 4180 as before; CsvCells::raw writes the bytes as they are.
TEST(Render, CsvSafeCellsNeutraliseFormulaStarts) {
  struct Case {
    std::string in;
    std::string safe;  // exact bytes with CsvCells::safe (the default)
    std::string raw;   // exact bytes with CsvCells::raw
  } cases[] = {
      {"=1+2", "\"'=1+2\"", "=1+2"},
      {"+1", "\"'+1\"", "+1"},
      {"-2+3", "\"'-2+3\"", "-2+3"},
      {"@SUM(A1:A9)", "\"'@SUM(A1:A9)\"", "@SUM(A1:A9)"},
      {"\t=1", "\"'\t=1\"", "\t=1"},
      {"\r=1", "\"'\r=1\"", "\"\r=1\""},  // CR is quoted by RFC 4180 anyway
      {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
       "\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
      {"=a\nb", "\"'=a\nb\"", "\"=a\nb\""},
      {"a=b", "a=b", "a=b"},  // only the first byte counts
      {" =1", " =1", " =1"},  // a leading space is text to every spreadsheet
      {"'=1", "'=1", "'=1"},
      {"", "", ""},
      {"=", "\"'=\"", "="},
  };
  for (const Case& c : cases) {
    std::string safe, raw, dflt;
    render::append_csv_field(c.in, safe, ',', render::CsvCells::safe);
    render::append_csv_field(c.in, raw, ',', render::CsvCells::raw);
    render::append_csv_field(c.in, dflt);
    EXPECT_EQ(safe, c.safe) << c.in;
    EXPECT_EQ(raw, c.raw) << c.in;
    EXPECT_EQ(dflt, c.safe) << "safe is the default: " << c.in;
  }
  // The room csv_field_bound promises holds the worst case: a "'" and every other byte a quote.
  for (std::size_t n = 1; n < 40; ++n) {
    const std::string worst = "=" + std::string(n - 1, '"');
    std::vector<char> room(render::csv_field_bound(n));
    const char* end = render::write_csv_field(worst, room.data(), ',');
    ASSERT_LE(static_cast<std::size_t>(end - room.data()), room.size()) << n;
  }
}

// The whole row: the address columns of mailsift's own (email, normalized, canonical) and the
// suggestion are untrusted too.
TEST(Render, CsvRowNeutralisesMailsiftsOwnColumns) {
  const Result r = test::verdict("=cmd@gmail.com");
  ASSERT_EQ(r.address.normalized(), "=cmd@gmail.com");
  std::string safe, raw;
  render::append_csv(r, safe);
  render::append_csv(r, raw, render::CsvCells::raw);
  const std::string rest = ",valid,well_formed,";
  EXPECT_TRUE(raw.starts_with("=cmd@gmail.com,=cmd@gmail.com,=cmd@gmail.com" + rest)) << raw;
  EXPECT_TRUE(safe.starts_with("\"'=cmd@gmail.com\",\"'=cmd@gmail.com\",\"'=cmd@gmail.com\"" + rest)) << safe;
  // Past the three address fields both rows are the same bytes.
  EXPECT_EQ(safe.substr(safe.find(rest)), raw.substr(raw.find(rest)));
}

TEST(CsvWriter, InputFieldsAndHeaderAreNeutralisedUnlessRaw) {
  const std::string in =
      "name,email,=note\n"
      "\"=HYPERLINK(\"\"http://evil.test\"\";\"\"x\"\")\",a@gmail.com,-5\n"
      "+1,b@gmail.com,@x\n";
  const auto write = [&](render::CsvCells cells) {
    auto r = Reader::from_memory(in, Format::csv, {});
    std::string out;
    OutputOptions oo;
    oo.format = Format::csv;
    oo.cells = cells;
    auto w = Writer::to_string(out, oo, r.get());
    Record rec;
    while (r->next(rec)) w->write(rec, test::verdict(rec.email), false);
    w->close();
    return out;
  };
  const std::string safe = write(render::CsvCells::safe);
  const std::string raw = write(render::CsvCells::raw);
  std::string results;
  for (const std::string& n : result_names()) results += "," + n;
  const auto row = [](const char* email) {
    std::string s;
    render::append_csv_result(test::verdict(email), s);
    return "," + s + ",false";
  };
  EXPECT_EQ(safe, "name,email,\"'=note\"" + results + "\n" +
                      "\"'=HYPERLINK(\"\"http://evil.test\"\";\"\"x\"\")\",a@gmail.com,\"'-5\"" + row("a@gmail.com") +
                      "\n" + "\"'+1\",b@gmail.com,\"'@x\"" + row("b@gmail.com") + "\n");
  EXPECT_EQ(raw, "name,email,=note" + results + "\n" +
                     "\"=HYPERLINK(\"\"http://evil.test\"\";\"\"x\"\")\",a@gmail.com,-5" + row("a@gmail.com") + "\n" +
                     "+1,b@gmail.com,@x" + row("b@gmail.com") + "\n");
  // JSONL output carries no formulas: the same input goes out as it came.
  const std::string jsonl = convert(in, Format::csv, Format::jsonl);
  EXPECT_NE(jsonl.find("\"name\":\"=HYPERLINK(\\\"http://evil.test\\\";\\\"x\\\")\""), std::string::npos) << jsonl;
}

TEST(CsvWriter, RoundTripKeepsEveryFieldByteExact) {
  const std::string in =
      "\xEF\xBB\xBF" "name;email;note\r\n"
      "\"Doe; \"\"J\"\"\";j@gmail.com;\"two\r\nlines\"\r\n"
      "\"multi\nline\";k@example.org;\"\"\r\n"
      "short\r\n"
      "\"x\";j@gmail.com;a\"b;extra 1;\"extra;2\"\r\n"
      ";\xFF\xFE@x.com;  spaced  \r\n";
  auto src = Reader::from_memory(in, Format::csv, {});
  const auto records = test::read_all(*src);
  const std::string out = convert(in, Format::csv, Format::csv);

  InputOptions o;
  o.header = true;
  auto back = Reader::from_memory(out, Format::csv, o);
  EXPECT_EQ(back->delimiter(), ';');
  V header = {"name", "email", "note"};
  for (const std::string& n : result_names()) header.push_back(n);
  EXPECT_EQ(back->header(), header);
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), records.size());
  const std::size_t nres = result_names().size();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const V& in_f = records[i].fields;
    const V& out_f = rows[i].fields;
    ASSERT_GE(out_f.size(), 3 + nres) << i;
    for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(out_f[k], k < in_f.size() ? in_f[k] : "") << i << "," << k;
    for (std::size_t k = 3; k < in_f.size(); ++k) EXPECT_EQ(out_f[k + nres], in_f[k]) << "extra field " << k;
    EXPECT_EQ(out_f.size(), std::max<std::size_t>(in_f.size(), 3) + nres);
  }
  // The result columns are where the header says.
  EXPECT_EQ(rows[0].fields[3 + 2], "valid");       // status
  EXPECT_EQ(rows[0].fields[3 + nres - 1], "false");  // duplicate
  EXPECT_EQ(rows[2].fields[3 + 2], "invalid");     // "short": the email field is missing
  EXPECT_EQ(rows[3].fields[3 + nres - 1], "true");  // j@gmail.com again
  EXPECT_EQ(rows[4].fields[3 + 3], "syntax.invalid_utf8");
}

TEST(CsvWriter, ColumnsArePrefixedOnlyOnCollision) {
  const std::string plain = convert("name,email\nA,a@gmail.com\n", Format::csv, Format::csv);
  EXPECT_EQ(plain.substr(0, plain.find('\n')),
            "name,email,normalized,canonical,status,reason,score,domain,registrable_domain,disposable,role,free,"
            "smtputf8,quoted_local,address_literal,suspicious,blocklisted,catch_all,suggestion,checks,duplicate");
  const std::string clash = convert("email,Status\na@gmail.com,customer\n", Format::csv, Format::csv);
  EXPECT_EQ(clash.substr(0, clash.find('\n')),
            "email,Status,mailsift_normalized,mailsift_canonical,mailsift_status,mailsift_reason,mailsift_score,"
            "mailsift_domain,mailsift_registrable_domain,mailsift_disposable,mailsift_role,mailsift_free,"
            "mailsift_smtputf8,mailsift_quoted_local,mailsift_address_literal,mailsift_suspicious,"
            "mailsift_blocklisted,mailsift_catch_all,mailsift_suggestion,mailsift_checks,mailsift_duplicate");
}

TEST(CsvWriter, HeaderlessInHeaderlessOut) {
  const std::string out = convert("a@gmail.com,1\nb@gmail.com\n", Format::csv, Format::csv);
  const auto lines = [&] {
    V l;
    std::size_t s = 0, e;
    while ((e = out.find('\n', s)) != std::string::npos) {
      l.push_back(out.substr(s, e - s));
      s = e + 1;
    }
    return l;
  }();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].starts_with("a@gmail.com,1,a@gmail.com,")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("b@gmail.com,,b@gmail.com,")) << lines[1];  // padded to the width
}

// Ragged rows (docs/bulk.md, "Ragged rows"). The fuzzer's case: a one-field header over two-field
// rows whose second field holds the addresses. The address column is widened into the input part
// (an empty header name), so it stays before the result columns, under its own column, in every row.
TEST(CsvWriter, RaggedAddressColumnBeyondTheHeaderStaysBeforeTheResults) {
  const std::string in = "nameRemail\nAnn,ann@gmail.com\nB`o\n";
  auto src = Reader::from_memory(in, Format::csv, {});
  ASSERT_EQ(src->header(), V{"nameRemail"});
  ASSERT_EQ(src->email_column(), 1u);  // detected from the rows, beyond the header
  EXPECT_EQ(csv_input_columns(in), 2u);

  const std::string out = convert(in, Format::csv, Format::csv);
  const std::size_t nres = result_names().size();
  V header = {"nameRemail", ""};
  for (const std::string& n : result_names()) header.push_back(n);
  InputOptions back_o;
  back_o.header = true;
  back_o.column = "2";
  auto back = Reader::from_memory(out, Format::csv, back_o);
  EXPECT_EQ(back->header(), header);
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), 2u);
  // Every row is exactly as wide as the header: nothing after the result columns.
  for (const Record& r : rows) EXPECT_EQ(r.fields.size(), 2 + nres);
  EXPECT_EQ(rows[0].fields[0], "Ann");
  EXPECT_EQ(rows[0].email, "ann@gmail.com");
  EXPECT_EQ(rows[0].fields[2], "ann@gmail.com");  // normalized, right after the address column
  EXPECT_EQ(rows[0].fields[2 + 2], "valid");      // status
  EXPECT_EQ(rows[1].fields[0], "B`o");
  EXPECT_EQ(rows[1].fields[1], "");  // padded: the input row had no second field
  EXPECT_EQ(rows[1].error, "");
  EXPECT_EQ(rows[1].email, "");
  EXPECT_EQ(out.substr(0, out.find('\n')), "nameRemail,,normalized,canonical,status,reason,score,domain,"
                                           "registrable_domain,disposable,role,free,smtputf8,quoted_local,"
                                           "address_literal,suspicious,blocklisted,catch_all,suggestion,checks,"
                                           "duplicate");
}

// Short rows are padded to W; a longer row's extra fields follow the result columns, which stay at
// the same positions in every row; re-reading gives each field back at a position the layout fixes.
TEST(CsvWriter, RaggedRowsKeepTheResultColumnsInPlace) {
  const std::string in =
      "name,email,note\n"
      "Ann,ann@gmail.com,n1\n"
      "Bob,bob@gmail.com\n"           // short
      "Cid\n"                          // short, no address
      "Dee,dee@gmail.com,n4,x,\"y,z\"\n"  // long: two extra fields
      "\n";                            // rejected: empty line
  const auto records = [&] {
    auto r = Reader::from_memory(in, Format::csv, {});
    return test::read_all(*r);
  }();
  ASSERT_EQ(records.size(), 5u);
  const std::string out = convert(in, Format::csv, Format::csv);
  const std::size_t nres = result_names().size();
  InputOptions back_o;
  back_o.header = true;
  back_o.column = "email";
  auto back = Reader::from_memory(out, Format::csv, back_o);
  ASSERT_EQ(back->header().size(), 3 + nres);
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), records.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const V& f = rows[i].fields;
    const V& in_f = records[i].fields;
    ASSERT_EQ(f.size(), std::max<std::size_t>(3, in_f.size()) + nres) << i;
    for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(f[k], k < in_f.size() ? in_f[k] : "") << i << "," << k;
    for (std::size_t k = 3; k < in_f.size(); ++k) EXPECT_EQ(f[k + nres], in_f[k]) << i << "," << k;
    EXPECT_EQ(rows[i].error, "") << i;
    EXPECT_EQ(rows[i].email, records[i].error.empty() ? records[i].email : "") << i;
  }
  EXPECT_EQ(rows[0].fields[3 + 2], "valid");
  EXPECT_EQ(rows[1].fields[3 + 2], "valid");
  EXPECT_EQ(rows[2].fields[3 + 2], "invalid");  // "no email field": no address
  EXPECT_EQ(rows[3].fields[3 + 2], "valid");
  EXPECT_EQ(rows[3].fields[3 + nres - 1], "false");  // duplicate, then the extras
  EXPECT_EQ(rows[3].fields[3 + nres], "x");
  EXPECT_EQ(rows[3].fields[3 + nres + 1], "y,z");
  EXPECT_EQ(rows[4].fields[3 + 2], "invalid");  // "empty line": no address
}

// Headerless input: W is the first row's width, widened to a --column beyond it.
TEST(CsvWriter, HeaderlessColumnBeyondTheFirstRowWidens) {
  InputOptions o;
  o.header = false;
  o.column = "3";
  const std::string in = "a,b\nc,d,e@gmail.com\n";
  EXPECT_EQ(csv_input_columns(in, o), 3u);
  const std::string out = convert(in, Format::csv, Format::csv, o);
  auto back = Reader::from_memory(out, Format::csv, o);
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].fields.size(), 3 + result_names().size());
  EXPECT_EQ(rows[0].fields[2], "");
  EXPECT_EQ(rows[0].email, "");
  EXPECT_EQ(rows[1].fields.size(), 3 + result_names().size());
  EXPECT_EQ(rows[1].email, "e@gmail.com");
  EXPECT_EQ(rows[1].fields[3], "e@gmail.com");  // normalized
}

TEST(CsvWriter, EveryRecordGivesOneRow) {
  InputOptions o;
  o.max_record_bytes = 40;
  const std::string in = "email\na@gmail.com\n\n" + std::string(100, 'x') + "\n\"open\n";
  const std::string out = convert(in, Format::csv, Format::csv, o);
  InputOptions back_o;
  back_o.header = true;
  auto back = Reader::from_memory(out, Format::csv, back_o);
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), 4u);
  for (const Record& r : rows) EXPECT_EQ(r.fields.size(), 1 + result_names().size());
}

TEST(TxtInput, CsvAndJsonlOutput) {
  const std::string in = "a@gmail.com\nnot an address\na@gmail.com\n";
  const std::string csv = convert(in, Format::txt, Format::csv);
  std::string want_header;
  render::append_csv_header(want_header);
  want_header.insert(want_header.size() - 1, ",duplicate");
  EXPECT_TRUE(csv.starts_with(want_header)) << csv;
  std::string want_row;
  render::append_csv(test::verdict("a@gmail.com"), want_row);
  want_row.insert(want_row.size() - 1, ",false");
  EXPECT_NE(csv.find(want_row), std::string::npos) << csv;

  const std::string jl = convert(in, Format::txt, Format::jsonl);
  std::vector<json::value> vals;
  std::size_t s = 0, e;
  while ((e = jl.find('\n', s)) != std::string::npos) {
    vals.push_back(json::parse(jl.substr(s, e - s)));
    s = e + 1;
  }
  ASSERT_EQ(vals.size(), 3u);
  EXPECT_EQ(vals[0].at("email").as_string(), "a@gmail.com");
  EXPECT_EQ(vals[0].at("status").as_string(), "valid");
  EXPECT_EQ(vals[0].at("duplicate").as_bool(), false);
  EXPECT_EQ(vals[1].at("status").as_string(), "invalid");
  EXPECT_EQ(vals[2].at("duplicate").as_bool(), true);
  std::string plain;
  render::append_json(test::verdict("a@gmail.com"), plain);
  plain.pop_back();
  EXPECT_TRUE(jl.starts_with(plain + ",\"duplicate\":false}\n"));
}

std::vector<json::value> lines_as_json(const std::string& s) {
  std::vector<json::value> v;
  std::size_t b = 0, e;
  while ((e = s.find('\n', b)) != std::string::npos) {
    v.push_back(json::parse(s.substr(b, e - b)));
    b = e + 1;
  }
  return v;
}

TEST(JsonlWriter, KeepsTheInputObjectAndAppendsMailsift) {
  const std::string l0 = "{\"id\":12345678901234567890123,\"email\":\"a@gmail.com\",\"tags\":[1,{\"x\":null}],\"s\":\"\\u00e9\"}";
  const std::string l1 = "{ }";
  const std::string l2 = "[1,2]";
  const std::string l3 = "{\"email\":\"\xFF@x.com\"}";
  const std::string in = l0 + "\n" + l1 + "\n" + l2 + "\n" + l3 + "\n\n";
  const std::string out = convert(in, Format::jsonl, Format::jsonl);
  V lines;
  std::size_t b = 0, e;
  while ((e = out.find('\n', b)) != std::string::npos) {
    lines.push_back(out.substr(b, e - b));
    b = e + 1;
  }
  ASSERT_EQ(lines.size(), 5u);
  // The input object byte for byte (number text, escapes, order), then "mailsift" last.
  EXPECT_TRUE(lines[0].starts_with(l0.substr(0, l0.size() - 1) + ",\"mailsift\":{\"email\":\"a@gmail.com\""))
      << lines[0];
  const auto vals = lines_as_json(out);
  ASSERT_EQ(vals.size(), 5u);
  const json::object& o0 = vals[0].as_object();
  EXPECT_EQ(o0.size(), 5u);
  EXPECT_EQ(o0.at("mailsift").at("status").as_string(), "valid");
  EXPECT_EQ(o0.at("mailsift").at("duplicate").as_bool(), false);
  EXPECT_EQ(vals[1].as_object().size(), 1u);  // "{ }" → {"mailsift":…}
  EXPECT_EQ(vals[1].at("mailsift").at("status").as_string(), "invalid");
  EXPECT_EQ(vals[2].at("input").as_string(), "[1,2]");
  EXPECT_EQ(vals[3].at("input").as_string(), "{\"email\":\"\xEF\xBF\xBD@x.com\"}");  // valid JSON out
  EXPECT_EQ(vals[4].at("input").as_string(), "");  // the empty line
}

TEST(CrossFormat, CsvToJsonlAndJsonlToCsv) {
  const auto vals = lines_as_json(convert("name,email,name\nAnn,a@gmail.com,x,extra\n", Format::csv, Format::jsonl));
  ASSERT_EQ(vals.size(), 1u);
  const json::object& row = vals[0].at("row").as_object();
  EXPECT_EQ(row.at("name").as_string(), "Ann");
  EXPECT_EQ(row.at("email").as_string(), "a@gmail.com");
  EXPECT_EQ(row.at("column 3").as_string(), "x");  // a repeated name
  EXPECT_EQ(row.at("column 4").as_string(), "extra");
  EXPECT_EQ(vals[0].at("mailsift").at("status").as_string(), "valid");
  const auto arr = lines_as_json(convert("a@gmail.com,1\n", Format::csv, Format::jsonl));
  EXPECT_EQ(arr.at(0).at("row").as_array().size(), 2u);

  const std::string csv = convert("{\"email\":\"a@gmail.com\",\"n\":\"x,y\"}\n", Format::jsonl, Format::csv);
  InputOptions o;
  o.header = true;
  auto back = Reader::from_memory(csv, Format::csv, o);
  EXPECT_EQ(back->header().front(), "email");
  EXPECT_EQ(back->header().back(), "input");
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].fields.front(), "a@gmail.com");
  EXPECT_EQ(rows[0].fields.back(), "{\"email\":\"a@gmail.com\",\"n\":\"x,y\"}");
}

TEST(TableWriter, TxtOutputIsTheTable) {
  const std::string out = convert("a@gmail.com\n", Format::txt, Format::txt);
  std::string want;
  render::append_table_header(want);
  render::append_table(test::verdict("a@gmail.com"), want);
  EXPECT_EQ(out, want);
}

TEST(WriterFile, GzipRoundTripAndFlush) {
  test::TempDir dir;
  std::string in = "id,email\n";
  for (int i = 0; i < 3000; ++i) in += std::to_string(i) + ",\"u" + std::to_string(i) + "@gmail.com\"\n";
  test::write_file(dir.file("in.csv"), in);
  auto r = Reader::open(dir.file("in.csv"), {});
  OutputOptions oo;
  oo.format = Format::csv;
  oo.gzip = true;
  auto w = Writer::open(dir.file("out.csv.gz"), oo, r.get());
  Record rec;
  std::size_t n = 0;
  while (r->next(rec)) {
    w->write(rec, test::verdict(rec.email), false);
    if (++n == 10) {
      w->flush();  // a sync flush: what is there so far inflates (the trailer is still missing)
      gzFile g = gzopen(dir.file("out.csv.gz").c_str(), "rb");
      ASSERT_NE(g, nullptr);
      std::string got(1 << 20, '\0');
      const int k = gzread(g, got.data(), static_cast<unsigned>(got.size()));
      gzclose(g);
      ASSERT_GT(k, 0);
      got.resize(static_cast<std::size_t>(k));
      EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 11) << got;
    }
  }
  w->close();
  auto back = Reader::open(dir.file("out.csv.gz"), {});
  EXPECT_EQ(back->header().size(), 2 + result_names().size());
  const auto rows = test::read_all(*back);
  ASSERT_EQ(rows.size(), 3000u);
  EXPECT_EQ(rows[2999].fields[0], "2999");
  EXPECT_EQ(rows[2999].fields[1], "u2999@gmail.com");
  EXPECT_EQ(rows[2999].email, "u2999@gmail.com");
  EXPECT_EQ(rows[2999].fields[4], "valid");
}

TEST(WriterFile, OpenFailureNamesThePath) {
  try {
    Writer::open("/nonexistent/dir/out.csv", {}, nullptr);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/out.csv"), std::string::npos) << e.what();
  }
}

// Open::create never follows a symbolic link and never replaces anything: a link planted where the
// output goes (OUTPUT.partial) leaves its target as it was. The file's mode is 0640 less the umask.
TEST(WriterFile, CreateIsExclusiveNeverFollowsALinkAndIsNotWorldReadable) {
  test::TempDir dir;
  test::write_file(dir.file("victim"), "precious\n");
  ASSERT_EQ(::symlink(dir.file("victim").c_str(), dir.file("out.csv.partial").c_str()), 0);
  OutputOptions oo;
  oo.format = Format::csv;
  EXPECT_THROW(Writer::open(dir.file("out.csv.partial"), oo, nullptr), std::runtime_error);
  EXPECT_EQ(test::read_file(dir.file("victim")), "precious\n");
  EXPECT_THROW(Writer::open(dir.file("victim"), oo, nullptr), std::runtime_error);  // exists: not truncated
  EXPECT_EQ(test::read_file(dir.file("victim")), "precious\n");
  const mode_t old = ::umask(022);
  Writer::open(dir.file("new.csv"), oo, nullptr)->close();
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("new.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // Existing: for FIFOs and devices only; a regular file is refused, not overwritten in place.
  EXPECT_THROW(Writer::open(dir.file("victim"), oo, nullptr, Writer::Open::existing), std::runtime_error);
  EXPECT_EQ(test::read_file(dir.file("victim")), "precious\n");
}

TEST(WriterFile, WriteFailureIsReportedByClose) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  OutputOptions oo;
  oo.format = Format::jsonl;
  auto w = Writer::open("/dev/full", oo, nullptr, Writer::Open::existing);
  Record rec;
  w->write(rec, test::verdict("a@gmail.com"), false);
  EXPECT_THROW(w->close(), std::runtime_error);
}

}  // namespace
}  // namespace mailsift::ingest
