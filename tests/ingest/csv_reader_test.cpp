// The CSV reader: RFC 4180 decoding, delimiter / header / email column detection, bounds.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "ingest/helpers.hpp"

namespace mailsift::ingest {
namespace {

using test::parse;
using V = std::vector<std::string>;

TEST(CsvReader, HeaderAndEmailColumnByName) {
  auto r = Reader::from_memory("name,email\nAnn,ann@example.com\nBob,bob@example.org\n", Format::csv, {});
  EXPECT_EQ(r->header(), (V{"name", "email"}));
  EXPECT_EQ(r->email_column(), 1u);
  EXPECT_EQ(r->delimiter(), ',');
  EXPECT_EQ(r->width(), 2u);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].number, 1u);
  EXPECT_EQ(recs[0].line, 2u);
  EXPECT_EQ(recs[0].fields, (V{"Ann", "ann@example.com"}));
  EXPECT_EQ(recs[0].email, "ann@example.com");
  EXPECT_EQ(recs[0].error, "");
  EXPECT_EQ(recs[1].number, 2u);
  EXPECT_EQ(recs[1].line, 3u);
  EXPECT_EQ(recs[1].email, "bob@example.org");
}

TEST(CsvReader, QuotedFieldsDoubledQuotesAndEmbeddedLineEnds) {
  const std::string in =
      "name,email,note\r\n"
      "\"Doe, \"\"J\"\"\",\" j@x.com \",\"two\r\nlines\"\r\n"
      "\"multi\nline\nname\",k@y.org,\"\"\r\n"
      "plain,l@z.net,a\"b\r\n";
  auto r = Reader::from_memory(in, Format::csv, {});
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].fields, (V{"Doe, \"J\"", " j@x.com ", "two\r\nlines"}));
  EXPECT_EQ(recs[0].email, "j@x.com");  // surrounding blanks trimmed
  EXPECT_EQ(recs[0].line, 2u);
  EXPECT_EQ(recs[1].fields, (V{"multi\nline\nname", "k@y.org", ""}));
  EXPECT_EQ(recs[1].line, 4u);
  EXPECT_EQ(recs[2].fields, (V{"plain", "l@z.net", "a\"b"}));  // a quote inside a field is data
  EXPECT_EQ(recs[2].line, 7u);
}

TEST(CsvReader, ByteAfterClosingQuoteIsKept) {
  const auto recs = parse("\"ab\"cd,x@y.com\nnext,z@y.com\n", Format::csv);
  ASSERT_EQ(recs.size(), 2u);  // and the rest of the file is not swallowed
  EXPECT_EQ(recs[0].fields, (V{"abcd", "x@y.com"}));
  EXPECT_EQ(recs[1].fields, (V{"next", "z@y.com"}));
}

TEST(CsvReader, BomIsStripped) {
  auto r = Reader::from_memory("\xEF\xBB\xBF" "email,name\na@b.com,A\n", Format::csv, {});
  EXPECT_EQ(r->header(), (V{"email", "name"}));
  EXPECT_EQ(r->email_column(), 0u);
}

TEST(CsvReader, CrLfLoneCrAndNoFinalLineEnd) {
  const auto recs = parse("a@x.com,1\r\nb@x.com,2\rc@x.com,3\nd@x.com,4", Format::csv);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].fields, (V{"a@x.com", "1"}));
  EXPECT_EQ(recs[1].fields, (V{"b@x.com", "2"}));
  EXPECT_EQ(recs[2].fields, (V{"c@x.com", "3"}));
  EXPECT_EQ(recs[3].fields, (V{"d@x.com", "4"}));
  EXPECT_EQ(recs[3].line, 4u);
}

TEST(CsvReader, DelimiterSniffing) {
  auto semi = Reader::from_memory("Name;E-Mail;Ort\n\"Müller; Hans\";hans@example.de;Köln\n", Format::csv, {});
  EXPECT_EQ(semi->delimiter(), ';');
  EXPECT_EQ(semi->email_column(), 1u);
  Record rec;
  ASSERT_TRUE(semi->next(rec));
  EXPECT_EQ(rec.fields, (V{"Müller; Hans", "hans@example.de", "Köln"}));
  EXPECT_EQ(rec.email, "hans@example.de");

  auto tab = Reader::from_memory("id\temail\n1\ta@b.com\n", Format::csv, {});
  EXPECT_EQ(tab->delimiter(), '\t');
  EXPECT_EQ(tab->email_column(), 1u);

  // Delimiters inside quotes do not count.
  auto quoted = Reader::from_memory("\"a;b;c\",email\nx,y@z.com\n", Format::csv, {});
  EXPECT_EQ(quoted->delimiter(), ',');

  InputOptions forced;
  forced.delimiter = '|';
  auto pipe = Reader::from_memory("email|n\na@b.com|1\n", Format::csv, forced);
  EXPECT_EQ(pipe->delimiter(), '|');
  EXPECT_EQ(pipe->email_column(), 0u);
}

TEST(CsvReader, HeaderDetection) {
  // No name match, but later rows hold addresses: the first row is a header.
  auto a = Reader::from_memory("who,contact\nAnn,ann@x.com\n", Format::csv, {});
  EXPECT_EQ(a->header(), (V{"who", "contact"}));
  EXPECT_EQ(a->email_column(), 1u);
  // The first row holds an address: no header.
  auto b = Reader::from_memory("Ann,ann@x.com\nBob,bob@x.com\n", Format::csv, {});
  EXPECT_TRUE(b->header().empty());
  EXPECT_EQ(b->email_column(), 1u);
  EXPECT_EQ(b->width(), 2u);
  EXPECT_EQ(test::read_all(*b).size(), 2u);
  // Forced either way.
  InputOptions none;
  none.header = false;
  auto c = Reader::from_memory("who,contact\nAnn,ann@x.com\n", Format::csv, none);
  EXPECT_TRUE(c->header().empty());
  EXPECT_EQ(test::read_all(*c).size(), 2u);
}

TEST(CsvReader, MissingEmailColumnIsPerRowError) {
  auto r = Reader::from_memory("name,city\nAnn,Paris\nBob,Rome\n", Format::csv, {});
  EXPECT_TRUE(r->header().empty());  // nothing says the first row is a header
  EXPECT_FALSE(r->email_column().has_value());
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 3u);  // nothing dropped
  for (const Record& rec : recs) {
    EXPECT_EQ(rec.error, "no email column");
    EXPECT_EQ(rec.email, "");
    EXPECT_EQ(rec.fields.size(), 2u);
  }
}

TEST(CsvReader, OneColumnFileWithoutAddressesStillHasItsColumn) {
  auto r = Reader::from_memory("not an address\nneither\n", Format::csv, {});
  EXPECT_EQ(r->email_column(), 0u);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].email, "not an address");
  EXPECT_EQ(recs[0].error, "");
}

TEST(CsvReader, AmbiguousEmailColumn) {
  // Two columns hold addresses: the header name decides…
  auto named = Reader::from_memory("referrer,Email Address\nx@ref.com,a@x.com\ny@ref.com,b@x.com\n", Format::csv, {});
  EXPECT_EQ(named->email_column(), 1u);
  // … "email" beats "mail" …
  auto ranked = Reader::from_memory("mail,email\na@x.com,b@x.com\n", Format::csv, {});
  EXPECT_EQ(ranked->email_column(), 1u);
  // … without names, the majority of the look-ahead rows; leftmost on a tie.
  auto majority = Reader::from_memory("a@x.com,-\nb@y.com,c@z.com\nd@x.com,-\n-,e@x.com\n", Format::csv, {});
  EXPECT_TRUE(majority->header().empty());
  EXPECT_EQ(majority->email_column(), 0u);
  auto later = Reader::from_memory("-,a@x.com\nb@y.com,c@z.com\n-,d@x.com\n", Format::csv, {});
  EXPECT_EQ(later->email_column(), 1u);
  auto tie = Reader::from_memory("a@x.com,b@x.com\n", Format::csv, {});
  EXPECT_EQ(tie->email_column(), 0u);
  // "address" alone is not taken for an email column in CSV (it is usually a postal address).
  auto postal = Reader::from_memory("address,contact\n1 Main St,a@x.com\n", Format::csv, {});
  EXPECT_EQ(postal->email_column(), 1u);
}

TEST(CsvReader, ColumnOption) {
  InputOptions by_name;
  by_name.column = "  CONTACT ";
  auto a = Reader::from_memory("name,contact,email\nAnn,a@x.com,b@x.com\n", Format::csv, by_name);
  EXPECT_EQ(a->email_column(), 1u);
  Record rec;
  ASSERT_TRUE(a->next(rec));
  EXPECT_EQ(rec.email, "a@x.com");

  InputOptions by_index;
  by_index.column = "3";
  auto b = Reader::from_memory("x,y,a@x.com\n", Format::csv, by_index);
  EXPECT_EQ(b->email_column(), 2u);
  ASSERT_TRUE(b->next(rec));
  EXPECT_EQ(rec.email, "a@x.com");

  // A name implies a header even when the first row looks like data.
  InputOptions at;
  at.column = "a@x.com";
  auto c = Reader::from_memory("a@x.com,b\nc@x.com,d\n", Format::csv, at);
  EXPECT_EQ(c->header(), (V{"a@x.com", "b"}));
  EXPECT_EQ(c->email_column(), 0u);

  InputOptions missing;
  missing.column = "mail";
  EXPECT_THROW(Reader::from_memory("name,email\nA,a@x.com\n", Format::csv, missing), std::invalid_argument);
  InputOptions too_far;
  too_far.column = "3";
  EXPECT_THROW(Reader::from_memory("name,email\nA,a@x.com\n", Format::csv, too_far), std::invalid_argument);
  InputOptions zero;
  zero.column = "0";
  EXPECT_THROW(Reader::from_memory("a@x.com\n", Format::csv, zero), std::invalid_argument);
  InputOptions huge;
  huge.column = "99999999999999999999999";
  EXPECT_THROW(Reader::from_memory("a@x.com\n", Format::csv, huge), std::invalid_argument);
  // An empty file has no header to check the name against: no error, no records.
  EXPECT_TRUE(parse("", Format::csv, missing).empty());
  // --column is CSV's option.
  EXPECT_THROW(Reader::from_memory("a@x.com\n", Format::txt, by_index), std::invalid_argument);
}

TEST(CsvReader, RaggedRowsAreKeptAsTheyAre) {
  InputOptions o;
  o.column = "2";
  auto r = Reader::from_memory("name,email\nAnn,a@x.com\nBob\nCid,c@x.com,extra,more\n", Format::csv, o);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].fields.size(), 2u);
  EXPECT_EQ(recs[1].fields, (V{"Bob"}));
  EXPECT_EQ(recs[1].error, "no email field");
  EXPECT_EQ(recs[2].fields, (V{"Cid", "c@x.com", "extra", "more"}));
  EXPECT_EQ(recs[2].email, "c@x.com");
}

TEST(CsvReader, EmptyLinesAreRecordsWithAnError) {
  const auto recs = parse("email\na@x.com\n\r\n\nb@x.com\n", Format::csv);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[1].error, "empty line");
  EXPECT_TRUE(recs[1].fields.empty());
  EXPECT_EQ(recs[1].line, 3u);
  EXPECT_EQ(recs[2].error, "empty line");
  EXPECT_EQ(recs[2].line, 4u);
  EXPECT_EQ(recs[3].email, "b@x.com");
  EXPECT_EQ(recs[3].line, 5u);
  // An empty quoted field is not an empty line.
  const auto q = parse("email\n\"\"\n", Format::csv);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].error, "");
  EXPECT_EQ(q[0].fields, (V{""}));
}

TEST(CsvReader, UnterminatedQuoteAtEnd) {
  const auto recs = parse("email,n\na@x.com,1\n\"b@x.com,2\nc@x.com,3\n", Format::csv);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].error, "malformed CSV: unterminated quoted field");
  EXPECT_EQ(recs[1].email, "");
}

TEST(CsvReader, BytesThatAreNotUtf8PassThroughPerRow) {
  const std::string in = "email,name\n\xFF\xFE@x.com,\xC3\n\"a\x80\"@y.com,ok\nz@z.com,\x00zero\n";
  const auto recs = parse(std::string(in.data(), in.size() + 0), Format::csv);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].email, "\xFF\xFE@x.com");  // the verifier reports syntax.invalid_utf8
  EXPECT_EQ(recs[0].fields[1], "\xC3");
  EXPECT_EQ(recs[0].error, "");
  EXPECT_EQ(test::verdict(recs[0].email).reason, Reason::syntax_invalid_utf8);
  EXPECT_EQ(recs[1].fields[0], "a\x80@y.com");  // "a\x80" then @y.com after the closing quote
}

TEST(CsvReader, NulBytes) {
  const std::string in("email\na\0b@x.com\n", 16);
  const auto recs = parse(in, Format::csv);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].email, std::string("a\0b@x.com", 9));
}

TEST(CsvReader, OverLongRecordIsRejectedAndSkippedToItsEnd) {
  InputOptions o;
  o.max_record_bytes = 64;
  const std::string big(200, 'x');
  const std::string in = "email,note\n" + std::string("a@x.com,") + big + "\n" +
                         "\"b@x.com\",\"" + big + "\nstill,in,quotes\n" + big + "\"\n" + "c@x.com,ok\n";
  auto r = Reader::from_memory(in, Format::csv, o);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].error, "record over 64 bytes");
  EXPECT_TRUE(recs[0].fields.empty());
  EXPECT_EQ(recs[1].error, "record over 64 bytes");
  EXPECT_EQ(recs[2].error, "");
  EXPECT_EQ(recs[2].email, "c@x.com");
  EXPECT_EQ(recs[2].line, 6u);
  EXPECT_EQ(recs[2].number, 3u);

  // Exactly at the limit is fine.
  InputOptions exact;
  exact.max_record_bytes = 9;
  const auto ok = parse("a@x.com,1\n", Format::csv, exact);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].error, "");
}

TEST(CsvReader, TooManyFields) {
  std::string row(kMaxFields + 10, ',');
  const auto recs = parse("email\n" + row + "\na@x.com\n", Format::csv);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].error, "record over " + std::to_string(kMaxFields) + " fields");
  EXPECT_EQ(recs[1].email, "a@x.com");
}

TEST(CsvReader, HeaderOnlyAndEmptyFiles) {
  auto h = Reader::from_memory("email,name\n", Format::csv, {});
  EXPECT_EQ(h->header(), (V{"email", "name"}));
  EXPECT_TRUE(test::read_all(*h).empty());
  auto e = Reader::from_memory("", Format::csv, {});
  EXPECT_TRUE(e->header().empty());
  EXPECT_TRUE(test::read_all(*e).empty());
  auto bom = Reader::from_memory("\xEF\xBB\xBF", Format::csv, {});
  EXPECT_TRUE(test::read_all(*bom).empty());
}

TEST(CsvReader, ManyRowsAfterTheLookAhead) {
  std::string in = "id,email\n";
  for (int i = 0; i < 1000; ++i) in += std::to_string(i) + ",u" + std::to_string(i) + "@x.com\n";
  auto r = Reader::from_memory(in, Format::csv, {});
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(recs[static_cast<std::size_t>(i)].email, "u" + std::to_string(i) + "@x.com");
    EXPECT_EQ(recs[static_cast<std::size_t>(i)].number, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(recs[static_cast<std::size_t>(i)].line, static_cast<std::uint64_t>(i + 2));
  }
  EXPECT_EQ(r->bytes_read(), in.size());
  EXPECT_EQ(r->total_bytes(), in.size());
}

long max_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// A 64 MiB line (one field, and one long quoted field with line ends) with a 1 MiB limit: rejected,
// the following record read correctly, and the process's peak memory does not grow by the line.
TEST(CsvReader, HugeLineStreamsThroughInBoundedMemory) {
  test::TempDir dir;
  const std::string path = dir.file("huge.csv");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("email,note\na@x.com,", f);
    const std::string chunk(1 << 20, 'y');
    for (int i = 0; i < 64; ++i) std::fwrite(chunk.data(), 1, chunk.size(), f);
    std::fputs("\nb@x.com,\"", f);
    std::string qchunk(1 << 20, 'z');
    qchunk[100] = '\n';
    for (int i = 0; i < 64; ++i) std::fwrite(qchunk.data(), 1, qchunk.size(), f);
    std::fputs("\"\nc@x.com,done\n", f);
    std::fclose(f);
  }
  const long before = max_rss_kib();
  InputOptions o;
  o.max_record_bytes = std::size_t{1} << 20;
  auto r = Reader::open(path, o);
  const auto recs = test::read_all(*r);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].error, "record over 1048576 bytes");
  EXPECT_EQ(recs[1].error, "record over 1048576 bytes");
  EXPECT_EQ(recs[2].email, "c@x.com");
  EXPECT_EQ(recs[2].line, 2u + 1u + 64u + 1u);  // a LF every 1 MiB inside the quoted field
  EXPECT_LT(max_rss_kib() - before, 24 * 1024) << "peak RSS grew by more than 24 MiB";
}

// --threads reads CSV with next_raw() and decodes on the workers: every record must come out as
// next() gives it, whatever the order of decoding, past the look-ahead (which is decoded already),
// with all the records' bytes in one buffer, end to end, as a block of --threads holds them.
TEST(CsvReader, RawThenDecodeIsNext) {
  std::string filler;
  for (int i = 0; i < 70; ++i) filler += "p" + std::to_string(i) + ",p" + std::to_string(i) + "@x.com\n";
  const std::string wide = std::string(kMaxFields, ',') + "w@x.com\n";  // kMaxFields + 1 fields
  const std::vector<std::string> tails = {
      "\"Doe, \"\"J\"\"\",\" j@x.com \",\"two\r\nlines\"\r\nplain,l@z.net,a\"b\r\n",
      "\"ab\"cd,x@y.com\rnext,z@y.com\r\n\n\r\nlast,q@r.com",
      "a,\nb,b@c.com,\n,\n\"\"\n\"\",c@d.com\n",
      "one-field-no-email\n" + wide + "after,a@b.com\n",
      std::string(300, 'x') + ",long@x.com\nshort,s@x.com\n\"unterminated,u@x.com\nstill inside",
      "e@x.com,\"q\"\"\"\n\"\"\"\"\n",
  };
  for (const std::string& tail : tails) {
    InputOptions o;
    o.max_record_bytes = 256;
    const std::string in = "name,email\n" + filler + tail;
    const auto want = parse(in, Format::csv, o);
    auto r = Reader::from_memory(in, Format::csv, o);
    std::vector<Record> got;
    std::string bytes;
    std::vector<std::size_t> ends;  // where record i's bytes end in `bytes`
    Record rec;
    std::size_t undecoded = 0;
    while (r->next_raw(rec, bytes)) {
      undecoded += rec.undecoded ? 1 : 0;
      if (!rec.undecoded) {
        EXPECT_EQ(bytes.size(), ends.empty() ? 0 : ends.back()) << "a decoded record appended bytes";
      }
      got.push_back(rec);
      ends.push_back(bytes.size());
    }
    for (std::size_t k = got.size(); k-- > 0;) {  // any order
      const std::size_t from = k == 0 ? 0 : ends[k - 1];
      r->decode(got[k], std::string_view(bytes).substr(from, ends[k] - from));
    }
    ASSERT_EQ(got.size(), want.size()) << tail;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_FALSE(got[i].undecoded);
      EXPECT_EQ(got[i].number, want[i].number) << tail << " record " << i;
      EXPECT_EQ(got[i].line, want[i].line) << tail << " record " << i;
      EXPECT_EQ(got[i].fields, want[i].fields) << tail << " record " << i;
      EXPECT_EQ(got[i].email, want[i].email) << tail << " record " << i;
      EXPECT_EQ(got[i].error, want[i].error) << tail << " record " << i;
    }
    EXPECT_GT(undecoded, 0u) << "no record went through next_raw's undecoded path";
  }
}

// The reader finds a record's end by stepping from one quote, line end or delimiter to the next
// in windows of 64 bytes, over read blocks of 256 KiB. Fields with every special byte, written the
// RFC 4180 way (quoted when they need it, and sometimes when they do not), lengths around a window
// and past a read block, LF, CRLF and lone-CR record ends: every record must come back with its
// fields and its first physical line, through next() and through next_raw() + decode().
TEST(CsvReader, EncodedFieldsComeBackAcrossWindowsAndBlocks) {
  std::mt19937 rnd(20261207);
  const std::string alphabet = "abcdefgh@.\"\",;\t \r\n\r\n";
  const std::vector<std::size_t> lengths = {0, 1, 2, 15, 16, 31, 62, 63, 64, 65, 127, 128, 129, 300};
  std::vector<V> want_fields;
  std::vector<std::uint64_t> want_line;
  std::string in;
  std::uint64_t line = 1;
  // First the lenient forms at every offset across the first windows' ends, each with an odd
  // number of quotes before the line end (a scanner that took one for an opening quote would run
  // on into the next record): `x"y` (a quote as an unquoted field's second byte) and `"ab"c"d` (a
  // byte, then a quote, after a closing quote).
  for (std::size_t pad = 0; pad < 140; ++pad) {
    in += std::string(pad, 'p') + ",x\"y\n" + std::string(pad, 'q') + ",\"ab\"c\"d\r\n";
    want_fields.push_back({std::string(pad, 'p'), "x\"y"});
    want_fields.push_back({std::string(pad, 'q'), "abc\"d"});
    want_line.push_back(line++);
    want_line.push_back(line++);
  }
  while (in.size() < 700 * 1024) {
    V fields(1 + rnd() % 6);
    std::string rec;
    for (std::size_t k = 0; k < fields.size(); ++k) {
      std::size_t len = lengths[rnd() % lengths.size()];
      if (rnd() % 200 == 0) len = 40000 + rnd() % 300000;  // across a read block
      std::string& f = fields[k];
      for (std::size_t i = 0; i < len; ++i)
        f += rnd() % 4 == 0 ? alphabet[rnd() % alphabet.size()] : static_cast<char>('a' + rnd() % 26);
      const bool needs = f.find_first_of("\",\r\n") != std::string::npos || (fields.size() == 1 && f.empty());
      if (k) rec += ',';
      // The lenient forms (docs/bulk.md): a quote inside an unquoted field is data, and bytes after
      // a closing quote are kept. Neither may hold a delimiter or line end, nor the tail start
      // with a quote (that would be a doubled one).
      const bool plain = f.find_first_of(",\r\n") == std::string::npos;
      if (plain && !f.empty() && f[0] != '"' && rnd() % 4 == 0) {
        rec += f;  // as it is, quotes and all
        continue;
      }
      if (plain && f.size() > 1 && f[1] != '"' && rnd() % 4 == 0) {
        const std::size_t cut = rnd() % f.size();  // f = head + tail: "head"tail
        if (f[cut] != '"') {
          rec += '"';
          for (char c : f.substr(0, cut)) rec += c == '"' ? std::string("\"\"") : std::string(1, c);
          rec += '"';
          rec += f.substr(cut);
          continue;
        }
      }
      if (needs || rnd() % 3 == 0) {
        rec += '"';
        for (char c : f) rec += c == '"' ? std::string("\"\"") : std::string(1, c);
        rec += '"';
      } else {
        rec += f;
      }
    }
    want_fields.push_back(fields);
    want_line.push_back(line);
    for (const std::string& f : fields) line += static_cast<std::uint64_t>(std::count(f.begin(), f.end(), '\n'));
    ++line;
    static const char* const kEnds[] = {"\n", "\r\n", "\r"};
    in += rec + kEnds[rnd() % 3];
  }
  InputOptions o;
  o.header = false;
  o.column = "1";
  o.max_record_bytes = std::size_t{4} << 20;
  const auto got = parse(in, Format::csv, o);
  ASSERT_EQ(got.size(), want_fields.size());
  std::size_t spanning = 0;  // records whose fields span a 64-byte window
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].error, "") << "record " << i;
    ASSERT_EQ(got[i].fields, want_fields[i]) << "record " << i;
    ASSERT_EQ(got[i].line, want_line[i]) << "record " << i;
    for (const std::string& f : want_fields[i]) spanning += f.size() > 64 ? 1 : 0;
  }
  EXPECT_GT(spanning, 200u);

  auto r = Reader::from_memory(in, Format::csv, o);
  Record rec;
  std::string bytes;
  for (std::size_t i = 0; i < want_fields.size(); ++i) {
    bytes.clear();
    ASSERT_TRUE(r->next_raw(rec, bytes)) << "record " << i;
    r->decode(rec, bytes);
    ASSERT_EQ(rec.fields, want_fields[i]) << "record " << i;
    ASSERT_EQ(rec.line, want_line[i]) << "record " << i;
  }
  EXPECT_FALSE(r->next_raw(rec, bytes));
}

// A read block is 256 KiB (ingest/source.hpp): the CR of a CRLF as its last byte and the LF as the
// next block's first, a doubled quote split between two blocks, a closing quote as a block's last
// byte with the line end after it. Through next() and through next_raw() + decode().
TEST(CsvReader, LineEndsAndQuotesAcrossReadBlocks) {
  constexpr std::size_t kBlock = std::size_t{256} * 1024;
  struct Case {
    std::string in;
    std::vector<V> fields;
  };
  const std::string after = "b,c@d.com\n";
  const std::vector<Case> cases = {
      {"a," + std::string(kBlock - 3, 'x') + "\r\n" + after, {{"a", std::string(kBlock - 3, 'x')}, {"b", "c@d.com"}}},
      {"\"" + std::string(kBlock - 2, 'y') + "\"\"z\",e@f.com\n" + after,
       {{std::string(kBlock - 2, 'y') + "\"z", "e@f.com"}, {"b", "c@d.com"}}},
      {"\"" + std::string(kBlock - 2, 'w') + "\"\n" + after, {{std::string(kBlock - 2, 'w')}, {"b", "c@d.com"}}},
  };
  ASSERT_EQ(cases[0].in[kBlock - 1], '\r');
  ASSERT_EQ(cases[1].in.substr(kBlock - 1, 2), "\"\"");
  ASSERT_EQ(cases[2].in.substr(kBlock - 1, 2), "\"\n");
  InputOptions o;
  o.header = false;
  o.column = "2";
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto got = parse(cases[c].in, Format::csv, o);
    ASSERT_EQ(got.size(), cases[c].fields.size()) << "case " << c;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].fields, cases[c].fields[i]) << "case " << c << " record " << i;
      EXPECT_EQ(got[i].line, i + 1) << "case " << c << " record " << i;
    }
    // Past the reader's look-ahead, so that records come back undecoded.
    std::string in;
    for (int k = 0; k < 70; ++k) in += "p,p" + std::to_string(k) + "@x.com\n";
    const std::size_t pad = kBlock - in.size() % kBlock;  // the case's first byte starts a block
    in += std::string(pad - 1, 'q') + "\n" + cases[c].in;
    auto r = Reader::from_memory(in, Format::csv, o);
    Record rec;
    std::string bytes;
    for (int k = 0; k < 71; ++k) ASSERT_TRUE(r->next_raw(rec, bytes));
    for (std::size_t i = 0; i < cases[c].fields.size(); ++i) {
      bytes.clear();
      ASSERT_TRUE(r->next_raw(rec, bytes)) << "case " << c;
      EXPECT_TRUE(rec.undecoded);
      r->decode(rec, bytes);
      EXPECT_EQ(rec.fields, cases[c].fields[i]) << "case " << c << " record " << i;
      EXPECT_EQ(rec.line, 72 + i) << "case " << c << " record " << i;
    }
    EXPECT_FALSE(r->next_raw(rec, bytes));
  }
}

}  // namespace
}  // namespace mailsift::ingest
