#include "theme.hpp"

#include <QClipboard>
#include <QEvent>
#include <QGuiApplication>
#include <QPalette>

namespace ravel::ui {

Theme::Theme(QObject* parent) : QObject(parent) {
    // The app never sets its own application palette, so this one is always the desktop's.
    if (qApp) qApp->installEventFilter(this);
}

void Theme::setMode(const QString& mode) {
    const QString next = (mode == QLatin1String("light") || mode == QLatin1String("dark"))
                             ? mode
                             : QStringLiteral("system");
    if (next == mode_) return;
    mode_ = next;
    emit changed();
}

bool Theme::dark() const {
    if (mode_ == QLatin1String("dark")) return true;
    if (mode_ == QLatin1String("light")) return false;
    return QGuiApplication::palette().color(QPalette::Window).lightness() < 128;
}

bool Theme::eventFilter(QObject* watched, QEvent* event) {
    if (watched == qApp && event->type() == QEvent::ApplicationPaletteChange &&
        mode_ == QLatin1String("system")) {
        emit changed();
    }
    return QObject::eventFilter(watched, event);
}

void Clipboard::setText(const QString& text) {
    if (QClipboard* c = QGuiApplication::clipboard()) c->setText(text);
}

QString Clipboard::text() const {
    const QClipboard* c = QGuiApplication::clipboard();
    return c ? c->text() : QString();
}

}  // namespace ravel::ui
