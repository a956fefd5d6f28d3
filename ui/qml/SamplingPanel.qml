import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Sampler settings of the current conversation: presets, every parameter with its range and a
// tooltip, the system prompt and stop sequences.
ScrollView {
    id: scroll
    objectName: "samplingPanel"
    clip: true
    contentWidth: availableWidth

    ColumnLayout {
        width: scroll.availableWidth
        spacing: 6

        Item { implicitHeight: 4 }

        Label {
            Layout.leftMargin: 12
            text: qsTr("Preset")
            font.bold: true
            color: Theme.text
        }
        RowLayout {
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            ComboBox {
                id: presetBox
                objectName: "presetBox"
                Layout.fillWidth: true
                model: Sampling.presetNames
                displayText: qsTr("Apply a preset…")
                Accessible.name: qsTr("Sampling preset")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Precise: focused and repeatable. Balanced: ChatRWKV's defaults. Creative: more varied.")
                onActivated: (i) => Sampling.applyPreset(Sampling.presetNames[i])
            }
            Button {
                text: qsTr("Save…")
                Accessible.name: qsTr("Save these settings as a preset")
                onClicked: { presetName.visible = true; presetName.forceActiveFocus() }
            }
        }
        TextField {
            id: presetName
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            Layout.fillWidth: true
            visible: false
            placeholderText: qsTr("Preset name, then Enter")
            Accessible.name: qsTr("Name of the new preset")
            onAccepted: { Sampling.saveAsPreset(text); text = ""; visible = false }
            Keys.onEscapePressed: visible = false
        }

        Repeater {
            model: Sampling.parameters
            delegate: ColumnLayout {
                id: param
                required property var modelData
                readonly property string key: modelData.key
                readonly property bool integral: key === "topK" || key === "maxTokens" || key === "seed"
                readonly property var names: ({
                    temperature: qsTr("Temperature"), topP: qsTr("Top-p"), topK: qsTr("Top-k"),
                    minP: qsTr("Min-p"), presencePenalty: qsTr("Presence penalty"),
                    frequencyPenalty: qsTr("Frequency penalty"), penaltyDecay: qsTr("Penalty decay"),
                    maxTokens: qsTr("Maximum reply tokens"), seed: qsTr("Seed")
                })
                Layout.fillWidth: true
                Layout.leftMargin: 12
                Layout.rightMargin: 12
                spacing: 0

                RowLayout {
                    Label {
                        Layout.fillWidth: true
                        text: param.names[param.key]
                        color: Theme.text
                        ToolTip.visible: hover.hovered
                        ToolTip.text: param.modelData.description
                        HoverHandler { id: hover }
                    }
                    Label {
                        text: param.integral ? String(Sampling[param.key]) : Number(Sampling[param.key]).toFixed(param.key === "penaltyDecay" ? 3 : 2)
                        color: Theme.mutedText
                    }
                }
                Slider {
                    objectName: "slider_" + param.key
                    visible: param.key !== "seed"
                    Layout.fillWidth: true
                    from: param.modelData.minimum
                    to: param.key === "maxTokens" ? 2048 : param.modelData.maximum
                    stepSize: param.modelData.step
                    snapMode: Slider.SnapAlways
                    value: Sampling[param.key]
                    Accessible.name: param.names[param.key]
                    Accessible.description: param.modelData.description
                    ToolTip.visible: hovered || pressed
                    ToolTip.text: qsTr("%1 (range %2 – %3)").arg(param.modelData.description).arg(param.modelData.minimum).arg(param.modelData.maximum)
                    onMoved: Sampling[param.key] = param.integral ? Math.round(value) : value
                }
                SpinBox {
                    visible: param.key === "seed"
                    Layout.fillWidth: true
                    from: -1
                    to: 2147483647
                    editable: true
                    value: param.key === "seed" ? Sampling.seed : 0
                    Accessible.name: qsTr("Seed")
                    ToolTip.visible: hovered
                    ToolTip.text: param.modelData.description
                    onValueModified: Sampling.seed = value
                }
            }
        }

        Label {
            Layout.leftMargin: 12
            Layout.topMargin: 6
            text: qsTr("System prompt")
            font.bold: true
            color: Theme.text
        }
        TextArea {
            objectName: "systemPromptField"
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            Layout.fillWidth: true
            Layout.preferredHeight: 80
            wrapMode: TextEdit.Wrap
            placeholderText: qsTr("Instructions given to the model before the conversation")
            text: Sampling.systemPrompt
            Accessible.name: qsTr("System prompt")
            onEditingFinished: Sampling.systemPrompt = text
        }
        Label {
            Layout.leftMargin: 12
            text: qsTr("Stop sequences (one per line)")
            font.bold: true
            color: Theme.text
        }
        TextArea {
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            Layout.fillWidth: true
            Layout.preferredHeight: 50
            placeholderText: qsTr("The reply also ends at a blank line")
            text: Sampling.stopSequences
            Accessible.name: qsTr("Stop sequences")
            onEditingFinished: Sampling.stopSequences = text
        }
        Button {
            Layout.leftMargin: 12
            text: qsTr("Use for new conversations")
            Accessible.name: qsTr("Make these settings the default for new conversations")
            onClicked: Sampling.makeDefault()
        }
        Item { implicitHeight: 8 }
    }
}
