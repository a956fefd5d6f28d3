#include "stream_coalescer.hpp"

namespace ravel::app {

bool StreamCoalescer::add(const QString& piece) {
    pending_ += piece;
    if (!since_flush_.isValid()) {
        // The first piece goes out at once: the user sees the reply start immediately.
        return true;
    }
    return since_flush_.elapsed() >= interval_ms_;
}

QString StreamCoalescer::take() {
    since_flush_.start();
    QString out;
    out.swap(pending_);
    return out;
}

}  // namespace ravel::app
