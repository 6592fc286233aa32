// The simulated board file, built into the binary so `--board sim` needs no boards directory.

enum EmbeddedBoards {
    /// The text of boards/sim.toml, byte for byte (a test keeps the two equal).
    static let simulated = #"""
        # The simulated board: what `run --board sim`, the demo and the end-to-end tests run against.
        # Its chip and devices are the drivers' simulated twins (Sources/Drivers/Simulated): a simulated
        # GPIO chip "gpiochip0" with 32 lines, and "sim:<name>" serial devices answered by simulated
        # Modbus slaves, a simulated voice module and a simulated modem. The program built into the
        # binary carries this same text, so `--board sim` works with no boards directory at all.
        # Line numbers follow the Raspberry Pi board file, so a trace reads the same on both.

        [board]
        name = "sim"
        description = "Simulated board: no hardware, every input and output is a simulated twin"
        simulated = true

        [inputs.rain_gauge]
        chip = "gpiochip0"
        line = 17
        active_low = true
        bias = "pull_up"
        debounce = "20ms"

        [inputs.rain_gauge_2]
        chip = "gpiochip0"
        line = 6
        debounce = "20ms"

        [inputs.ack_button]
        chip = "gpiochip0"
        line = 27
        debounce = "50ms"

        [inputs.drill_key]
        chip = "gpiochip0"
        line = 22
        debounce = "50ms"

        [outputs.siren]
        chip = "gpiochip0"
        line = 23
        safe = "off"

        [outputs.broadcast]
        chip = "gpiochip0"
        line = 24

        [outputs.lamp_blue]
        chip = "gpiochip0"
        line = 25

        [outputs.lamp_yellow]
        chip = "gpiochip0"
        line = 16

        [outputs.lamp_orange]
        chip = "gpiochip0"
        line = 26

        [outputs.lamp_red]
        chip = "gpiochip0"
        line = 19

        [serial.rs485]
        device = "sim:rs485"

        [serial.voice]
        device = "sim:voice"
        model = "syn6288"

        [serial.modem]
        device = "sim:modem"
        model = "quectel-ec2x"

        [serial.console]
        device = "sim:console"

        """#
}
