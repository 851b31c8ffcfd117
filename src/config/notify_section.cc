#include "config/sections.h"

namespace inlet::config {

void ReadNotificationTarget(Section& subscription, const std::string& name, Config* cfg) {
  (void)subscription;
  (void)name;
  (void)cfg;
}

}  // namespace inlet::config
