// --config FILE (cli/config.hpp): the real subcommands' flags read from a file; the command line
// wins; every mistake in the file is an error naming its line, and nothing is applied.
#include "cli/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace mailsift::cli {
namespace {

struct Cli {
  CLI::App app{"mailsift"};
  VerifyOptions verify;
  server::ServeOptions serve;
  engine::WorkerOptions worker;
  CLI::App* v = nullptr;
  CLI::App* s = nullptr;
  CLI::App* w = nullptr;
  std::string cv, cs, cw;
  Cli() {
    v = app.add_subcommand("verify");
    add_engine_options(v, verify);
    add_config_option(v, cv);
    s = add_serve_command(app, serve);
    add_config_option(s, cs);
    w = add_worker_command(app, worker);
    add_config_option(w, cw);
  }
  // Parses `args` (after the program name), then applies the file of --config.
  void run(std::vector<std::string> args) {
    std::vector<std::string> argv = {"mailsift"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> p;
    for (std::string& a : argv) p.push_back(a.data());
    app.parse(static_cast<int>(p.size()), p.data());
    if (s->parsed()) apply_config(cs, app, *s);
    if (v->parsed()) apply_config(cv, app, *v);
    if (w->parsed()) apply_config(cw, app, *w);
  }
};

std::string file(const std::string& text) {
  static int n = 0;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("mailsift-config-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".conf")).string();
  std::ofstream(path) << text;
  return path;
}

// The message of the std::invalid_argument that running throws ("" if none).
std::string error_of(const std::string& text, std::vector<std::string> args = {"serve"}) {
  const std::string path = file(text);
  args.push_back("--config");
  args.push_back(path);
  Cli c;
  try {
    c.run(args);
  } catch (const std::invalid_argument& e) {
    std::string m = e.what();
    if (m.starts_with(path)) m.replace(0, path.size(), "FILE");
    return m;
  }
  return "";
}

const char* kConf = R"(# the service's settings
[serve]
listen = 0.0.0.0:8443
dns-server = 127.0.0.1
  dns-server = "127.0.0.2"
log-addresses = true
max-job-size = 5000
helo = "probe.example.com"

[worker]
broker = redis://10.0.0.1:6379
level-is-not-a-worker-flag-but-this-section-is-not-run = 1
)";

TEST(Config, TheFilesValuesApplyToTheSubcommandThatRuns) {
  const std::string path = file(R"([serve]
listen = 0.0.0.0:8443
dns-server = 127.0.0.1
  dns-server = "127.0.0.2"
log-addresses = true
max-job-size = 5000
helo = "probe \"quoted\" example"
quiet = false
; another comment
[verify]
level = dns
)");
  Cli c;
  c.run({"serve", "--config", path});
  EXPECT_EQ(c.serve.listen, "0.0.0.0:8443");
  EXPECT_EQ(c.serve.engine.dns_servers, (std::vector<std::string>{"127.0.0.1", "127.0.0.2"}));
  EXPECT_TRUE(c.serve.log_addresses);
  EXPECT_FALSE(c.serve.quiet);
  EXPECT_EQ(c.serve.max_job_size, 5000u);
  EXPECT_EQ(c.serve.engine.helo, "probe \"quoted\" example");
  EXPECT_EQ(c.verify.level, "smtp");  // [verify] is for `mailsift verify`
}

TEST(Config, TheCommandLineWins) {
  const std::string path = file("[serve]\nlisten = 0.0.0.0:8443\ndns-server = 127.0.0.1\ndns-server = 127.0.0.2\nmax-job-size = 5000\n");
  Cli c;
  c.run({"serve", "--listen", "127.0.0.1:9000", "--dns-server", "10.0.0.53", "--config", path});
  EXPECT_EQ(c.serve.listen, "127.0.0.1:9000");
  EXPECT_EQ(c.serve.engine.dns_servers, std::vector<std::string>{"10.0.0.53"});  // replaced, not merged
  EXPECT_EQ(c.serve.max_job_size, 5000u);
}

TEST(Config, EveryMistakeNamesItsLine) {
  EXPECT_EQ(error_of(std::string(kConf)),
            "FILE:12: unknown key 'level-is-not-a-worker-flag-but-this-section-is-not-run' in [worker]: not a flag of "
            "mailsift worker (see mailsift worker --help)");
  EXPECT_EQ(error_of("[serve]\nlisten = a\nlistn = b\n"),
            "FILE:3: unknown key 'listn' in [serve]: not a flag of mailsift serve (see mailsift serve --help)");
  EXPECT_EQ(error_of("[serve]\nlisten = a\n\nlisten = b\n"), "FILE:4: 'listen' is already set on line 2 (it takes one value)");
  EXPECT_EQ(error_of("[serve]\nquiet = maybe\n"), "FILE:2: 'quiet' is a flag: its value is true or false, not 'maybe'");
  EXPECT_EQ(error_of("listen = a\n"), "FILE:1: a key outside any section: put it under [verify], [serve] or [worker]");
  EXPECT_EQ(error_of("[srve]\n"), "FILE:1: unknown section [srve] (sections: [verify], [serve], [worker])");
  EXPECT_EQ(error_of("[serve]\nhelo = \"open\n"), "FILE:2: unterminated quoted value");
  EXPECT_EQ(error_of("[serve]\njust words\n"), "FILE:2: expected 'key = value'");
  EXPECT_EQ(error_of("[serve]\nconfig = other.conf\n").substr(0, 28), "FILE:2: unknown key 'config'");
  // The value's own check (the same as on the command line), with the line.
  const std::string range = error_of("[serve]\n\nmax-job-size = -5\n");
  EXPECT_TRUE(range.starts_with("FILE:3: 'max-job-size': ")) << range;
  const std::string level = error_of("[verify]\nlevel = bogus\n", {"verify"});
  EXPECT_TRUE(level.starts_with("FILE:2: 'level': ")) << level;
  EXPECT_NE(level.find("bogus"), std::string::npos) << level;
}

TEST(Config, AMissingFileIsAnError) {
  Cli c;
  EXPECT_THROW(c.run({"serve", "--config", "/nonexistent/mailsift.conf"}), std::runtime_error);
}

}  // namespace
}  // namespace mailsift::cli
