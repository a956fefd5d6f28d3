// Gathers streamed text pieces and says when enough time has passed to send them on, so the
// GUI gets at most ~30 updates a second however fast the model runs.
#pragma once

#include <QElapsedTimer>
#include <QString>

namespace ravel::app {

class StreamCoalescer {
  public:
    explicit StreamCoalescer(int interval_ms = 33) : interval_ms_(interval_ms) {}

    // Adds a piece; returns true when the pending text should be flushed now.
    bool add(const QString& piece);
    // Returns and clears the pending text.
    QString take();
    bool empty() const { return pending_.isEmpty(); }

  private:
    int interval_ms_;
    QString pending_;
    QElapsedTimer since_flush_;
};

}  // namespace ravel::app
