#include "config/sections.h"

namespace inlet::config {

void ReadLakeSection(Section& top, Config* cfg) {
  (void)top;
  (void)cfg;
}

}  // namespace inlet::config
