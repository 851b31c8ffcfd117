// The webhook: or email: target of a subscription (see docs/notifications.md).
#include "config/sections.h"
#include "notify/message_template.h"

namespace inlet::config {
namespace {

void ReadSecretSource(Section& s, const std::string& prefix, notify::SecretSource* out) {
  s.String(prefix + "_env", &out->env);
  s.String(prefix + "_file", &out->file);
  if (!out->env.empty() && !out->file.empty()) {
    s.Error(prefix + "_file", "give " + prefix + "_env or " + prefix + "_file, not both");
  }
}

void ReadRetry(Section& s, notify::RetryPolicy* r, bool with_count) {
  if (with_count) s.Integer("num_retries", &r->num_retries, 0, notify::kMaxRetries);
  s.Duration("min_delay", &r->min_delay, std::chrono::milliseconds(0), std::chrono::hours(1));
  s.Duration("max_delay", &r->max_delay, std::chrono::milliseconds(0), std::chrono::hours(24));
  std::optional<double> jitter;
  s.Double("jitter", &jitter);
  if (jitter) {
    if (*jitter < 0 || *jitter > 1)
      s.Error("jitter", "must be between 0 and 1 (a fraction of the delay)");
    else
      r->jitter = *jitter;
  }
  if (r->max_delay < r->min_delay) s.Error("max_delay", "must be at least min_delay");
}

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

bool PlausibleAddress(const std::string& a) {
  if (a.empty() || a.find('@') == std::string::npos || a.front() == '@' || a.back() == '@')
    return false;
  return a.find_first_of(" \t\r\n<>,;\"") == std::string::npos;
}

void ReadTemplate(Section& s, const std::string& key, std::string* out) {
  s.String(key, out);
  auto t = notify::MessageTemplate::Parse(*out);
  if (!t.ok()) s.Error(key, t.status().message());
}

void ReadWebhook(Section& w, const SubscriptionDecl* sub, notify::WebhookConfig* c, Config* cfg) {
  w.String("url", &c->url);
  if (c->url.empty()) {
    w.Error("url", "a webhook needs a url (http:// or https://)");
  } else if (!StartsWith(c->url, "http://") && !StartsWith(c->url, "https://")) {
    w.Error("url", "expected an http:// or https:// URL, got '" + c->url + "'");
  }
  w.Duration("timeout", &c->timeout, std::chrono::milliseconds(100), std::chrono::minutes(5));
  w.Duration("connect_timeout", &c->connect_timeout, std::chrono::milliseconds(100),
             std::chrono::minutes(1));
  ReadRetry(w, &c->retry, true);
  ReadSecretSource(w, "secret", &c->secret);
  w.Integer("batch_size", &c->batch_size, 1, notify::kMaxBatchSize);
  w.Duration("batch_window", &c->batch_window, std::chrono::milliseconds(0),
             std::chrono::minutes(5));
  w.Size("max_body_bytes", &c->max_body_bytes, 1024, 64ull << 20);
  w.String("dead_letter_topic", &c->dead_letter_topic);
  if (!c->dead_letter_topic.empty()) {
    if (!cfg->FindTopic(c->dead_letter_topic)) {
      w.Error("dead_letter_topic",
              "no topic '" + c->dead_letter_topic + "' is declared under topics:");
    } else if (sub && sub->bus.topic == c->dead_letter_topic) {
      w.Error("dead_letter_topic", "must differ from the subscription's own topic");
    }
  }
  if (w.Has("headers")) {
    YAML::Node h = w.Raw("headers");
    if (!h.IsMap()) {
      w.Error("headers", "expected a mapping of header names to values");
    } else {
      for (const auto& kv : h) {
        const std::string k = kv.first.Scalar();
        const std::string v = kv.second.IsScalar() ? kv.second.Scalar() : "";
        if (k.empty() || k.find_first_of(" :\r\n") != std::string::npos ||
            v.find_first_of("\r\n") != std::string::npos) {
          w.Error("headers", "invalid header '" + k + "'");
        }
        c->headers.emplace_back(k, v);
      }
    }
  }
  if (sub && sub->bus.max_receive_count > 0 && sub->bus.max_receive_count <= c->retry.num_retries) {
    w.Error("num_retries", "the subscription's max_receive_count (" +
                               std::to_string(sub->bus.max_receive_count) +
                               ") would dead-letter events before the webhook's " +
                               std::to_string(c->retry.num_retries + 1) +
                               " attempts; raise max_receive_count or leave it 0");
  }
}

void ReadEmail(Section& e, notify::EmailConfig* c) {
  e.String("url", &c->url);
  if (c->url.empty()) {
    e.Error("url", "an email target needs a url (smtp://host:port or smtps://host:port)");
  } else if (!StartsWith(c->url, "smtp://") && !StartsWith(c->url, "smtps://")) {
    e.Error("url", "expected an smtp:// or smtps:// URL, got '" + c->url + "'");
  }
  e.Bool("starttls", &c->starttls);
  if (c->starttls && StartsWith(c->url, "smtps://")) {
    e.Error("starttls", "smtps:// is TLS from the first byte; starttls applies to smtp:// only");
  }
  e.Bool("tls_insecure_skip_verify", &c->insecure_skip_verify);
  ReadSecretSource(e, "username", &c->username);
  ReadSecretSource(e, "password", &c->password);
  if (!c->password.empty() && c->username.empty()) {
    e.Error("password_env", "a password needs a username (username_env or username_file)");
  }
  e.String("from", &c->from);
  if (!PlausibleAddress(c->from))
    e.Error("from", "expected one email address like alerts@example.com");
  if (e.Has("to") && e.Raw("to").IsScalar()) {
    c->to.push_back(e.Raw("to").Scalar());
  } else {
    e.StringList("to", &c->to);
  }
  if (c->to.empty()) e.Error("to", "list at least one recipient");
  if (c->to.size() > notify::kMaxRecipients) {
    e.Error("to", "at most " + std::to_string(notify::kMaxRecipients) + " recipients");
  }
  for (const auto& a : c->to) {
    if (!PlausibleAddress(a)) e.Error("to", "'" + a + "' is not an email address");
  }
  ReadTemplate(e, "subject", &c->subject);
  ReadTemplate(e, "body", &c->body);
  e.Duration("timeout", &c->timeout, std::chrono::seconds(1), std::chrono::minutes(10));
  ReadRetry(e, &c->retry, false);
  e.Duration("digest_interval", &c->digest_interval, std::chrono::milliseconds(0),
             std::chrono::hours(24));
  e.Integer("digest_max_events", &c->digest_max_events, 1, notify::kMaxDigestEvents);
  e.Integer("max_emails", &c->max_emails, 0, 1'000'000);
  e.Duration("rate_interval", &c->rate_interval, std::chrono::seconds(1),
             std::chrono::hours(24 * 7));
}

}  // namespace

void ReadNotificationTarget(Section& subscription, const std::string& name, Config* cfg) {
  const bool webhook = subscription.Has("webhook");
  const bool email = subscription.Has("email");
  if (!webhook && !email) return;
  if (webhook && email) {
    subscription.Error("email",
                       "a subscription has at most one notification target: webhook or email; "
                       "declare a second subscription for the other one");
    return;
  }
  const SubscriptionDecl* sub = cfg->FindSubscription(name);
  notify::NotificationTarget t;
  t.subscription = name;
  t.topic = sub ? sub->bus.topic : "";
  if (webhook) {
    t.kind = notify::TargetKind::kWebhook;
    Section w(subscription.Raw("webhook"), subscription.KeyPath("webhook"), subscription.errors());
    ReadWebhook(w, sub, &t.webhook, cfg);
  } else {
    t.kind = notify::TargetKind::kEmail;
    Section e(subscription.Raw("email"), subscription.KeyPath("email"), subscription.errors());
    ReadEmail(e, &t.email);
  }
  cfg->notify.targets.push_back(std::move(t));
}

}  // namespace inlet::config
