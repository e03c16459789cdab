#include "dns/provider.hpp"

namespace mailsift::dns {
namespace {

// MX host suffixes of the big mailbox and mail-filtering providers, from their published setup
// guides. A constexpr table: it changes rarely and a code review sees every change.
constexpr ProviderSuffix kProviders[] = {
    {"google.com", "google"},           // aspmx.l.google.com, alt1.aspmx.l.google.com, smtp.google.com
    {"googlemail.com", "google"},       // gmail-smtp-in.l.google.com's older aliases
    {"mail.protection.outlook.com", "microsoft"},  // Microsoft 365 / Exchange Online
    {"olc.protection.outlook.com", "microsoft"},   // outlook.com / hotmail.com consumer mail
    {"outlook.com", "microsoft"},
    {"hotmail.com", "microsoft"},
    {"yahoodns.net", "yahoo"},          // mta5.am0.yahoodns.net
    {"zoho.com", "zoho"},               // mx.zoho.com
    {"zoho.eu", "zoho"},
    {"zoho.in", "zoho"},
    {"pphosted.com", "proofpoint"},     // mx0a-0012345.pphosted.com
    {"ppe-hosted.com", "proofpoint"},   // Proofpoint Essentials
    {"mimecast.com", "mimecast"},       // eu-smtp-inbound-1.mimecast.com
    {"barracudanetworks.com", "barracuda"},  // d123.ess.barracudanetworks.com
    {"mail.icloud.com", "icloud"},      // mx01.mail.icloud.com
    {"messagingengine.com", "fastmail"},  // in1-smtp.messagingengine.com
    {"yandex.net", "yandex"},           // mx.yandex.net
    {"yandex.ru", "yandex"},
    {"mail.ru", "mailru"},              // mxs.mail.ru
    {"gmx.net", "gmx"},                 // mx00.emig.gmx.net (GMX, web.de, mail.com)
    {"web.de", "gmx"},                  // mx-ha02.web.de
    {"protonmail.ch", "proton"},        // mail.protonmail.ch, mailsec.protonmail.ch
};

bool ends_on_label(std::string_view host, std::string_view suffix) {
  if (host.size() < suffix.size() || host.substr(host.size() - suffix.size()) != suffix) return false;
  return host.size() == suffix.size() || host[host.size() - suffix.size() - 1] == '.';
}

}  // namespace

std::span<const ProviderSuffix> provider_table() noexcept { return kProviders; }

std::string_view identify_provider(std::span<const std::string> mx_hosts, std::string_view registrable) noexcept {
  for (const std::string& h : mx_hosts)
    for (const ProviderSuffix& p : kProviders)
      if (ends_on_label(h, p.suffix)) return p.provider;
  if (!registrable.empty())
    for (const std::string& h : mx_hosts)
      if (ends_on_label(h, registrable)) return "self_hosted";
  return "unknown";
}

}  // namespace mailsift::dns
