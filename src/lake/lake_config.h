// Settings of the catalog, the crawlers and the query engine, filled by the
// configuration loader (config/lake_section.cc). Plain values.
#pragma once

namespace inlet::lake {

struct LakeConfig {};

}  // namespace inlet::lake
