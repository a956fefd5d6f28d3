// The sampling panel's model: the settings of the current conversation as properties QML can
// bind sliders to, plus presets. Edits emit edited() so the controller stores them with the
// conversation; the controller copies value() into each request.
#pragma once

#include <QObject>
#include <QStringList>
#include <QVariantList>

#include "sampling_settings.hpp"

namespace ravel::app {

class AppSettings;

class GenerationSettings : public QObject {
    Q_OBJECT
    Q_PROPERTY(double temperature READ temperature WRITE setTemperature NOTIFY valueChanged)
    Q_PROPERTY(double topP READ topP WRITE setTopP NOTIFY valueChanged)
    Q_PROPERTY(int topK READ topK WRITE setTopK NOTIFY valueChanged)
    Q_PROPERTY(double minP READ minP WRITE setMinP NOTIFY valueChanged)
    Q_PROPERTY(
        double presencePenalty READ presencePenalty WRITE setPresencePenalty NOTIFY valueChanged)
    Q_PROPERTY(
        double frequencyPenalty READ frequencyPenalty WRITE setFrequencyPenalty NOTIFY valueChanged)
    Q_PROPERTY(double penaltyDecay READ penaltyDecay WRITE setPenaltyDecay NOTIFY valueChanged)
    Q_PROPERTY(int maxTokens READ maxTokens WRITE setMaxTokens NOTIFY valueChanged)
    Q_PROPERTY(qint64 seed READ seed WRITE setSeed NOTIFY valueChanged)
    Q_PROPERTY(QString stopSequences READ stopSequences WRITE setStopSequences NOTIFY valueChanged)
    Q_PROPERTY(QString systemPrompt READ systemPrompt WRITE setSystemPrompt NOTIFY valueChanged)
    Q_PROPERTY(QStringList presetNames READ presetNames NOTIFY presetsChanged)
    Q_PROPERTY(QStringList userPresetNames READ userPresetNames NOTIFY presetsChanged)
    Q_PROPERTY(QVariantList parameters READ parameters CONSTANT)
  public:
    explicit GenerationSettings(AppSettings* settings, QObject* parent = nullptr);

    SamplingSettings value() const { return value_; }
    QString systemPrompt() const { return system_prompt_; }
    // What a new conversation starts with (the user's saved default).
    SamplingSettings defaultValue() const;
    QString defaultSystemPrompt() const;
    // Replaces everything without emitting edited() (used when switching conversations).
    void load(const SamplingSettings& value, const QString& systemPrompt);

    double temperature() const { return value_.temperature; }
    double topP() const { return value_.topP; }
    int topK() const { return value_.topK; }
    double minP() const { return value_.minP; }
    double presencePenalty() const { return value_.presencePenalty; }
    double frequencyPenalty() const { return value_.frequencyPenalty; }
    double penaltyDecay() const { return value_.penaltyDecay; }
    int maxTokens() const { return value_.maxTokens; }
    qint64 seed() const { return value_.seed; }
    QString stopSequences() const { return value_.stopSequences; }
    void setTemperature(double v);
    void setTopP(double v);
    void setTopK(int v);
    void setMinP(double v);
    void setPresencePenalty(double v);
    void setFrequencyPenalty(double v);
    void setPenaltyDecay(double v);
    void setMaxTokens(int v);
    void setSeed(qint64 v);
    void setStopSequences(const QString& v);
    void setSystemPrompt(const QString& v);

    QStringList presetNames() const;  // built-in, then user presets
    QStringList userPresetNames() const;
    // {key, minimum, maximum, step, description} for every sampler setting.
    QVariantList parameters() const;
    Q_INVOKABLE void applyPreset(const QString& name);
    Q_INVOKABLE void saveAsPreset(const QString& name);
    Q_INVOKABLE void removePreset(const QString& name);
    // Makes the current values the default for new conversations.
    Q_INVOKABLE void makeDefault();

  signals:
    void valueChanged();
    void edited();
    void presetsChanged();

  private:
    void update(const SamplingSettings& next);

    AppSettings* settings_;
    SamplingSettings value_;
    QString system_prompt_;
};

}  // namespace ravel::app
