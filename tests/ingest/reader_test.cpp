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
