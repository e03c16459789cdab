// Formats by name and extension; the TXT and JSONL readers; files, gzip and errors on open.
#include <gtest/gtest.h>
#include <zlib.h>

#include <stdexcept>

#include "ingest/helpers.hpp"

namespace mailsift::ingest {
namespace {

using test::parse;
using V = std::vector<std::string>;

TEST(Format, KindOfByExtension) {
  struct Case {
    const char* path;
    Format f;
    bool gz;
  } cases[] = {
      {"list.txt", Format::txt, false},      {"list.CSV", Format::csv, false},
      {"a/b.jsonl", Format::jsonl, false},   {"x.ndjson", Format::jsonl, false},
      {"x.csv.gz", Format::csv, true},       {"x.jsonl.GZ", Format::jsonl, true},
      {"x.ndjson.gz", Format::jsonl, true},  {"x.txt.gz", Format::txt, true},
      {"x.gz", Format::txt, true},           {"x.json", Format::txt, false},
      {"x.json.gz", Format::txt, true},      {"noext", Format::txt, false},
      {"-", Format::txt, false},             {"csv", Format::txt, false},
  };
  for (const Case& c : cases) {
    const FileKind k = kind_of(c.path);
    EXPECT_EQ(k.format, c.f) << c.path;
    EXPECT_EQ(k.gzip, c.gz) << c.path;
  }
}

TEST(Format, ParseFormat) {
  EXPECT_EQ(parse_format("txt"), Format::txt);
  EXPECT_EQ(parse_format("CSV"), Format::csv);
  EXPECT_EQ(parse_format("jsonl"), Format::jsonl);
  EXPECT_EQ(parse_format("ndjson"), Format::jsonl);
  EXPECT_EQ(parse_format("json"), std::nullopt);
  EXPECT_EQ(parse_format(""), std::nullopt);
  EXPECT_EQ(name(Format::csv), "csv");
}

TEST(TxtReader, LinesCrLfBlanksAndTrimming) {
  const auto recs = parse("\xEF\xBB\xBF" "a@x.com\r\n  b@x.com\t\n\n   \r\nlast@x.com", Format::txt);
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].email, "a@x.com");
  EXPECT_EQ(recs[0].fields, (V{"a@x.com"}));
  EXPECT_EQ(recs[1].email, "b@x.com");
  // A blank line is an empty address (the verifier says syntax.empty), not dropped, not an error.
  EXPECT_EQ(recs[2].email, "");
  EXPECT_EQ(recs[2].error, "");
  EXPECT_EQ(recs[3].email, "");
  EXPECT_EQ(recs[4].email, "last@x.com");
  for (std::size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].number, i + 1);
    EXPECT_EQ(recs[i].line, i + 1);
  }
  EXPECT_EQ(test::verdict(recs[2].email).reason, Reason::syntax_empty);
}

TEST(TxtReader, OverLongLine) {
  InputOptions o;
  o.max_record_bytes = 10;
  const auto recs = parse("0123456789\n0123456789\r\n01234567890\nok@x.com\n", Format::txt, o);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].email, "0123456789");
  EXPECT_EQ(recs[1].email, "0123456789");  // the CR is not counted
  EXPECT_EQ(recs[2].error, "record over 10 bytes");
  EXPECT_TRUE(recs[2].fields.empty());
  EXPECT_EQ(recs[3].email, "ok@x.com");
  EXPECT_EQ(recs[3].line, 4u);
}

TEST(TxtReader, HugeLineFromAFile) {
  test::TempDir dir;
  const std::string path = dir.file("huge.txt");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    const std::string chunk(1 << 20, 'q');
    for (int i = 0; i < 64; ++i) std::fwrite(chunk.data(), 1, chunk.size(), f);
    std::fputs("\nnext@x.com\n", f);
    std::fclose(f);
  }
  InputOptions o;
  o.max_record_bytes = std::size_t{1} << 20;
  auto r = Reader::open(path, o);
  EXPECT_EQ(r->total_bytes(), (std::uint64_t{64} << 20) + 12);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].error, "record over 1048576 bytes");
  EXPECT_EQ(recs[1].email, "next@x.com");
  EXPECT_EQ(r->bytes_read(), r->total_bytes());
}

TEST(JsonlReader, DetectsTheEmailMember) {
  const auto recs = parse(
      "{\"name\":\"Ann\",\"email\":\" ann@x.com \"}\n"
      "{\"id\":1,\"E-Mail\":\"b@x.com\"}\n"
      "{\"address\":\"1 Main St\",\"email_address\":\"c@x.com\"}\n"
      "{\"contact\":{\"email\":\"nested@x.com\"},\"other\":\"d@x.com\"}\n"
      "{\"address\":\"e@x.com\"}\n"
      "{\"name\":\"nobody\",\"n\":3}\n",
      Format::jsonl);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(recs[0].email, "ann@x.com");
  EXPECT_TRUE(recs[0].json_object);
  EXPECT_EQ(recs[0].json, "{\"name\":\"Ann\",\"email\":\" ann@x.com \"}");
  EXPECT_EQ(recs[1].email, "b@x.com");
  EXPECT_EQ(recs[2].email, "c@x.com");  // email_address ranks above address
  EXPECT_EQ(recs[3].email, "d@x.com");  // top-level members only; then the first that looks like one
  EXPECT_EQ(recs[4].email, "e@x.com");
  EXPECT_EQ(recs[5].error, "no email field");
  EXPECT_TRUE(recs[5].json_object);
}

TEST(JsonlReader, FieldOption) {
  InputOptions o;
  o.field = "work";
  const auto recs = parse(
      "{\"email\":\"a@x.com\",\"work\":\"b@x.com\"}\n"
      "{\"WORK\":\"c@x.com\"}\n"
      "{\"email\":\"d@x.com\"}\n"
      "{\"work\":42}\n"
      "{\"work\":\"\\u00e9@x.com\"}\n",
      Format::jsonl, o);
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].email, "b@x.com");
  EXPECT_EQ(recs[1].email, "c@x.com");
  EXPECT_EQ(recs[2].error, "no email field");
  EXPECT_EQ(recs[3].error, "email field is not a string");
  EXPECT_EQ(recs[4].email, "\xC3\xA9@x.com");  // escapes decoded
  InputOptions csv_only;
  csv_only.field = "x";
  EXPECT_THROW(Reader::from_memory("{}", Format::csv, csv_only), std::invalid_argument);
}

TEST(JsonlReader, BadLinesArePerRecordErrors) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  std::string ok_deep = "{\"email\":\"a@x.com\",\"d\":" + std::string(40, '[') + std::string(40, ']') + "}";
  const auto recs = parse(
      "[\"a@x.com\"]\n"
      "\"a@x.com\"\n"
      "42\n"
      "\n"
      "{\"email\":\"a@x.com\"\n"
      "{\"email\":\"a@x.com\"} trailing\n"
      "{\"email\":\"\xFF@x.com\"}\n" +
          deep + "\n" + ok_deep + "\n" +
          "{\"big\":123456789012345678901234567890,\"e\":1e999999,\"email\":\"z@x.com\"}\r\n"
          "  {\"email\":\"w@x.com\"}  \n",
      Format::jsonl);
  ASSERT_EQ(recs.size(), 11u);
  EXPECT_EQ(recs[0].error, "not a JSON object");
  EXPECT_EQ(recs[1].error, "not a JSON object");
  EXPECT_EQ(recs[2].error, "not a JSON object");
  EXPECT_EQ(recs[3].error, "empty line");
  EXPECT_EQ(recs[4].error, "malformed JSON");
  EXPECT_EQ(recs[5].error, "malformed JSON");
  EXPECT_EQ(recs[6].error, "not UTF-8");
  EXPECT_EQ(recs[7].error, "JSON nested too deep");
  EXPECT_EQ(recs[8].error, "");
  EXPECT_EQ(recs[8].email, "a@x.com");
  EXPECT_EQ(recs[9].error, "") << "huge numbers are not our business";
  EXPECT_EQ(recs[9].email, "z@x.com");
  EXPECT_EQ(recs[9].json.back(), '}');  // CR stripped
  EXPECT_EQ(recs[10].email, "w@x.com");
  for (const Record& r : recs) EXPECT_EQ(r.line, r.number);
}

TEST(JsonlReader, OverLongLine) {
  InputOptions o;
  o.max_record_bytes = 32;
  const auto recs = parse("{\"email\":\"" + std::string(100, 'a') + "@x.com\"}\n{\"email\":\"b@x.com\"}\n",
                          Format::jsonl, o);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].error, "record over 32 bytes");
  EXPECT_EQ(recs[0].json, "");
  EXPECT_EQ(recs[1].email, "b@x.com");
}

void write_gz(const std::string& path, const std::string& data) {
  gzFile g = gzopen(path.c_str(), "wb");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(gzwrite(g, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
  ASSERT_EQ(gzclose(g), Z_OK);
}

TEST(ReaderOpen, GzipByExtensionAndPlainFallback) {
  test::TempDir dir;
  std::string csv = "email,n\n";
  for (int i = 0; i < 5000; ++i) csv += "u" + std::to_string(i) + "@x.com," + std::to_string(i) + "\n";
  write_gz(dir.file("in.csv.gz"), csv);
  auto r = Reader::open(dir.file("in.csv.gz"), {});
  EXPECT_EQ(r->format(), Format::csv);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 5000u);
  EXPECT_EQ(recs[4999].email, "u4999@x.com");
  EXPECT_EQ(r->bytes_read(), r->total_bytes());  // compressed bytes
  EXPECT_LT(r->total_bytes(), csv.size());
  // A plain file named .gz still reads (zlib passes bytes that are not gzip through).
  test::write_file(dir.file("plain.txt.gz"), "a@x.com\n");
  auto p = Reader::open(dir.file("plain.txt.gz"), {});
  EXPECT_EQ(test::read_all(*p).at(0).email, "a@x.com");
  // --input-format wins over the extension.
  test::write_file(dir.file("list.dat"), "{\"email\":\"j@x.com\"}\n");
  InputOptions o;
  o.format = Format::jsonl;
  auto j = Reader::open(dir.file("list.dat"), o);
  EXPECT_EQ(test::read_all(*j).at(0).email, "j@x.com");
}

TEST(ReaderOpen, TruncatedGzipIsAnIoError) {
  test::TempDir dir;
  std::string data;
  for (int i = 0; i < 20000; ++i) data += "user" + std::to_string(i * 7919) + "@example.com\n";
  write_gz(dir.file("t.txt.gz"), data);
  const std::string gz = test::read_file(dir.file("t.txt.gz"));
  test::write_file(dir.file("cut.txt.gz"), gz.substr(0, gz.size() / 2));
  auto r = Reader::open(dir.file("cut.txt.gz"), {});
  Record rec;
  EXPECT_THROW(
      {
        while (r->next(rec)) {
        }
      },
      std::runtime_error);
}

// --- UTF-16 / UTF-32 input with a byte order mark: transcoded to UTF-8 as it is read ------------

// Real UTF-16 / UTF-32 code units (the compiler's u"" / U"" literals) as bytes, with the BOM.
std::string utf16(std::u16string_view s, bool big_endian) {
  std::string b = big_endian ? "\xFE\xFF" : "\xFF\xFE";
  for (const char16_t c : s) {
    const auto hi = static_cast<char>(c >> 8), lo = static_cast<char>(c & 0xFF);
    b += big_endian ? std::string{hi, lo} : std::string{lo, hi};
  }
  return b;
}
std::string utf32(std::u32string_view s, bool big_endian) {
  std::string b = big_endian ? std::string("\0\0\xFE\xFF", 4) : std::string("\xFF\xFE\0\0", 4);
  for (const char32_t c : s)
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>(c >> (8 * (big_endian ? 3 - i : i))));
  return b;
}

TEST(UnicodeInput, Utf16CsvWithBomIsTranscoded) {
  // What Excel's "Unicode Text" and PowerShell's Out-File write: exact bytes, little-endian.
  const std::string le(
      "\xFF\xFE"
      "e\0m\0a\0i\0l\0,\0n\0\xE9\0\r\0\n\0"
      "a\0@\0x\0.\0c\0o\0m\0,\0=\xD8\0\xDE\r\0\n\0",
      46);
  const std::string be = utf16(u"email,n\u00e9\r\na@x.com,\U0001F600\r\n", true);
  ASSERT_EQ(le, utf16(u"email,n\u00e9\r\na@x.com,\U0001F600\r\n", false));
  for (const std::string& bytes : {le, be}) {
    auto r = Reader::from_memory(bytes, Format::csv, {});
    EXPECT_EQ(r->header(), (V{"email", "n\xC3\xA9"}));
    const auto recs = test::read_all(*r);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].email, "a@x.com");
    EXPECT_EQ(recs[0].fields, (V{"a@x.com", "\xF0\x9F\x98\x80"}));  // a surrogate pair: U+1F600
    EXPECT_EQ(recs[0].error, "");
  }
}

TEST(UnicodeInput, FilesGzipAndUtf32) {
  test::TempDir dir;
  const std::u16string lines16 = u"j\u00f6rg@b\u00fccher.de\nplain@x.com\n";
  const std::u32string lines32 = U"j\u00f6rg@b\u00fccher.de\nplain@x.com\n";
  const V want = {
      "j\xC3\xB6rg@b\xC3\xBC"
      "cher.de",
      "plain@x.com"};
  test::write_file(dir.file("le.txt"), utf16(lines16, false));
  write_gz(dir.file("be.txt.gz"), utf16(lines16, true));  // the BOM is inside the gzip stream
  test::write_file(dir.file("le32.txt"), utf32(lines32, false));
  test::write_file(dir.file("be32.txt"), utf32(lines32, true));
  for (const char* name : {"le.txt", "be.txt.gz", "le32.txt", "be32.txt"}) {
    auto r = Reader::open(dir.file(name), {});
    V got;
    for (const Record& rec : test::read_all(*r)) got.push_back(rec.email);
    EXPECT_EQ(got, want) << name;
    EXPECT_EQ(r->bytes_read(), r->total_bytes()) << name;  // progress counts the file's own bytes
  }
}

// Bounded and streamed: a file far larger than the transcoder's 64 KiB and the reader's 256 KiB
// blocks, with a surrogate pair across the transcoder's block edge and UTF-8 sequences across
// the reader's.
TEST(UnicodeInput, LargeInputStreamsAcrossBlockEdges) {
  // The BOM and unit 0 are read together (the BOM check reads 4 bytes); the transcoder's first
  // 64 KiB block then holds units 1..32768: the pair's high surrogate is unit 32768, its low one
  // comes with the next block.
  std::u16string text(32768, u'x');
  text += u"\U0001F600@x.com\n";
  // The reader asks for 262,144 bytes a block; this line's 4-byte sequences start at byte 32,781,
  // so one of them is cut by the block's end (262,144 - 32,781 is not a multiple of 4).
  text += u"yy";
  for (int i = 0; i < 70'000; ++i) text += u"\U0001F600";  // 4-byte UTF-8 sequences over 262,144
  text += u"@x.com\n";
  for (int i = 0; i < 50'000; ++i) text += u"u" + std::u16string(1, static_cast<char16_t>(u'0' + i % 10)) + u"@x.com\n";
  auto r = Reader::from_memory(utf16(text, false), Format::txt, {});
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 50'002u);
  EXPECT_EQ(recs[0].email, std::string(32768, 'x') + "\xF0\x9F\x98\x80@x.com");
  std::string emojis = "yy";
  for (int i = 0; i < 70'000; ++i) emojis += "\xF0\x9F\x98\x80";
  EXPECT_EQ(recs[1].email, emojis + "@x.com");
  EXPECT_EQ(recs[2].email, "u0@x.com");
  EXPECT_EQ(recs[50'001].email, "u9@x.com");  // i = 49,999
}

// Not well-formed UTF-16 is never a crash and never silently "fixed": it becomes bytes that are
// not UTF-8 either, and the verifier reports the record (syntax.invalid_utf8).
TEST(UnicodeInput, UnpairedSurrogatesAndAnOddByteBecomeIllFormedUtf8) {
  const std::u16string lone_high = {0xD83D, u'a', u'@', u'x', u'.', u'c', u'o', u'm', u'\n'};
  const std::u16string lone_low = {u'b', 0xDE00, u'@', u'x', u'.', u'c', u'o', u'm', u'\n'};
  const std::u16string high_at_end = {u'c', u'@', u'x', u'.', u'c', u'o', u'm', u'\n', 0xD83D};
  const std::string odd_tail = utf16(u"d@x.com\n", false) + "e";
  struct Case {
    std::string bytes;
    V want;
  } cases[] = {
      {utf16(lone_high, false),
       {"\xED\xA0\xBD"
        "a@x.com"}},
      {utf16(lone_low, true), {"b\xED\xB8\x80@x.com"}},
      {utf16(high_at_end, false), {"c@x.com", "\xED\xA0\xBD"}},
      {odd_tail, {"d@x.com", "\xFF"}},
      {utf32(U"f@x.com\n", false) + std::string("\x00\x00\x11\x00", 4), {"f@x.com", "\xFF"}},  // past U+10FFFF
  };
  for (const Case& c : cases) {
    auto r = Reader::from_memory(c.bytes, Format::txt, {});
    V got;
    for (const Record& rec : test::read_all(*r)) got.push_back(rec.email);
    EXPECT_EQ(got, c.want);
  }
  EXPECT_EQ(test::verdict("\xED\xA0\xBD"
                          "a@x.com")
                .reason,
            Reason::syntax_invalid_utf8);
  EXPECT_EQ(test::verdict("b\xED\xB8\x80@x.com").reason, Reason::syntax_invalid_utf8);
}

// Without a UTF-16/32 mark the bytes pass unchanged, short inputs and the UTF-8 BOM included.
TEST(UnicodeInput, OtherInputPassesUnchanged) {
  for (const std::string& in : {std::string(""), std::string("a"), std::string("ab@x.com"),
                                std::string("\xEF\xBB\xBF"
                                            "a@x.com\n"),
                                std::string("\xFE"
                                            "a@x.com\n")}) {
    auto r = Reader::from_memory(in, Format::txt, {});
    const auto recs = test::read_all(*r);
    std::string body = in.starts_with("\xEF\xBB\xBF") ? in.substr(3) : in;
    if (body.ends_with('\n')) body.pop_back();
    if (in.empty()) {
      EXPECT_TRUE(recs.empty());
    } else {
      ASSERT_EQ(recs.size(), 1u) << in;
      EXPECT_EQ(recs[0].email, body);
    }
  }
}

TEST(ReaderOpen, OpenErrorsNameThePath) {
  try {
    Reader::open("/nonexistent/dir/list.csv", {});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/list.csv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Reader::open("/tmp", {}), std::runtime_error);
  InputOptions zero;
  zero.max_record_bytes = 0;
  EXPECT_THROW(Reader::from_memory("", Format::txt, zero), std::invalid_argument);
}

}  // namespace
}  // namespace mailsift::ingest
