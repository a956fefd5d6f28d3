// Light and dark colours for the QML views. "system" follows the desktop's palette (a dark
// window colour means a dark theme) and updates when the desktop changes it.
#pragma once

#include <QColor>
#include <QObject>

namespace ravel::ui {

class Theme : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString mode READ mode WRITE setMode NOTIFY changed)
    Q_PROPERTY(bool dark READ dark NOTIFY changed)
    Q_PROPERTY(QColor background READ background NOTIFY changed)
    Q_PROPERTY(QColor surface READ surface NOTIFY changed)
    Q_PROPERTY(QColor sidebar READ sidebar NOTIFY changed)
    Q_PROPERTY(QColor text READ text NOTIFY changed)
    Q_PROPERTY(QColor mutedText READ mutedText NOTIFY changed)
    Q_PROPERTY(QColor accent READ accent NOTIFY changed)
    Q_PROPERTY(QColor accentText READ accentText NOTIFY changed)
    Q_PROPERTY(QColor userBubble READ userBubble NOTIFY changed)
    Q_PROPERTY(QColor assistantBubble READ assistantBubble NOTIFY changed)
    Q_PROPERTY(QColor border READ border NOTIFY changed)
    Q_PROPERTY(QColor codeBackground READ codeBackground NOTIFY changed)
    Q_PROPERTY(QColor error READ error NOTIFY changed)
    Q_PROPERTY(QColor errorBackground READ errorBackground NOTIFY changed)
  public:
    explicit Theme(QObject* parent = nullptr);

    QString mode() const { return mode_; }
    void setMode(const QString& mode);  // "system", "light", "dark"
    bool dark() const;

    QColor background() const { return dark() ? QColor(0x1e1f22) : QColor(0xffffff); }
    QColor surface() const { return dark() ? QColor(0x2b2d31) : QColor(0xf4f5f7); }
    QColor sidebar() const { return dark() ? QColor(0x232428) : QColor(0xeceef1); }
    QColor text() const { return dark() ? QColor(0xe6e6e6) : QColor(0x1d1f23); }
    QColor mutedText() const { return dark() ? QColor(0x9aa0a6) : QColor(0x5f6368); }
    QColor accent() const { return dark() ? QColor(0x7aa2f7) : QColor(0x2f5fd0); }
    QColor accentText() const { return dark() ? QColor(0x0f1115) : QColor(0xffffff); }
    QColor userBubble() const { return dark() ? QColor(0x2f3b55) : QColor(0xe3ebfb); }
    QColor assistantBubble() const { return dark() ? QColor(0x2b2d31) : QColor(0xf4f5f7); }
    QColor border() const { return dark() ? QColor(0x3c3f45) : QColor(0xd5d8dd); }
    QColor codeBackground() const { return dark() ? QColor(0x16171a) : QColor(0xf0f1f3); }
    QColor error() const { return dark() ? QColor(0xff8a80) : QColor(0xb3261e); }
    QColor errorBackground() const { return dark() ? QColor(0x4a2523) : QColor(0xfce8e6); }

  signals:
    void changed();

  protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

  private:
    QString mode_ = QStringLiteral("system");
};

// Copying text from QML.
class Clipboard : public QObject {
    Q_OBJECT
  public:
    using QObject::QObject;
    Q_INVOKABLE void setText(const QString& text);
    Q_INVOKABLE QString text() const;
};

}  // namespace ravel::ui
