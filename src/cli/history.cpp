// `mailsift history show NAME` (docs/history.md): what --history holds for a domain (read as its
// registrable domain, the key records are kept under) and for an MX host of that name, as JSON.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "address/address.hpp"
#include "cli/commands.hpp"
#include "cli/verify.hpp"
#include "engine/history.hpp"
#include "domain/knowledge.hpp"
#include "store/history.hpp"

namespace mailsift::cli {

CLI::App* add_history_command(CLI::App& app, HistoryShowOptions& o) {
  CLI::App* h = app.add_subcommand("history", "Read the domain history kept by --history (docs/history.md)");
  h->require_subcommand(1);
  CLI::App* s = h->add_subcommand("show", "Show a domain's record (and an MX host's of that name) as JSON");
  s->add_option("name", o.domain, "A domain (its registrable domain's record is shown) or an MX host name")->required();
  s->add_option("--history", o.file, "The history file")->required();
  s->add_flag("--hash-keys", o.hash_keys, "The file keys records by SHA-256 (it was written with --hash-keys)");
  return h;
}

int history_show(const HistoryShowOptions& o) {
  // The name as the engine keys it: lower-case, an IDN as its A-label (parsed as an address's domain).
  address::Address a;
  if (address::parse("postmaster@" + o.domain, a) != Reason::well_formed || a.literal != address::Literal::none)
    throw std::invalid_argument("history show: not a domain name: " + o.domain);
  const std::string name(a.domain());
  const domain::Knowledge knowledge;
  const domain::DomainFacts facts = knowledge.lookup(name);
  const std::string registrable = facts.registrable.empty() ? name : facts.registrable;

  // Reading: a missing file is an error, not a new empty history.
  if (!std::filesystem::exists(o.file)) throw std::runtime_error("history file \"" + o.file + "\" does not exist");
  store::HistoryOptions ho;
  ho.hash_keys = o.hash_keys;
  ho.retention_days = 36500;  // reading: prune nothing
  ho.max_domains = ~std::uint64_t{0};
  store::History history(o.file, ho);
  const std::string out = engine::describe(history, name, registrable) + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kOk;  // a name never seen is an answer too: both null
}

}  // namespace mailsift::cli
