// The readers of the configuration sections that belong to other components,
// each in its own file (config/<component>_section.cc). Each reads its keys
// from `top` (the root mapping) into `cfg`, recording problems in `errors`;
// references to topics, subscriptions and tables are checked against `cfg`.
#pragma once

#include "config/config.h"
#include "config/yaml_section.h"

namespace inlet::config {

// delivery_streams: (config/delivery_section.cc)
void ReadDeliverySection(Section& top, Config* cfg);
// The webhook: or email: target of one subscription (config/notify_section.cc).
void ReadNotificationTarget(Section& subscription, const std::string& name, Config* cfg);
// processors: (config/process_section.cc)
void ReadProcessSection(Section& top, Config* cfg);
// catalog:, query:, crawlers: (config/lake_section.cc)
void ReadLakeSection(Section& top, Config* cfg);

}  // namespace inlet::config
