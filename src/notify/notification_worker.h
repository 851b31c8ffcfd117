// NotificationWorker: the delivery loop of one notification subscription
// (webhook or email), driven by NotificationService on a thread of its own.
// A worker borrows its consumer and dead-letter topic (they live as long as
// the bus). Step and Shutdown are called from one thread.
#pragma once

#include "notify/notify_config.h"

namespace inlet::notify {

class NotificationWorker {
 public:
  virtual ~NotificationWorker() = default;
  // One round: fetch (waiting up to `max_wait` for events), send what is due,
  // then ack what the target accepted and nack (with a delay) what failed.
  virtual void Step(Millis max_wait) = 0;
  // Returns the events held for a batch or digest to the bus (visible again
  // now), so a restart or another consumer delivers them.
  virtual void Shutdown() = 0;
};

}  // namespace inlet::notify
