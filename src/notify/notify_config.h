// Settings of notification subscriptions (webhook and email), filled by the
// configuration loader (config/notify_section.cc). Plain values.
#pragma once

#include <string>
#include <vector>

namespace inlet::notify {

struct NotifyConfig {};

}  // namespace inlet::notify
