//! Adam as PyTorch computes it, on the host (the CPU's path) and with its moments kept on
//! the device (a GPU's path, run here on the CPU): the same updates, and moments that
//! survive a checkpoint's round trip through the host.

use cgan::nn::optim::Adam;
use dfdx::prelude::*;

type Net = Linear<3, 2>;

/// Gradients of a squared-output loss of `net` on a fixed input.
fn grads(dev: &Cpu, net: &<Net as BuildOnDevice<Cpu, f32>>::Built, scale: f32) -> Gradients<f32, Cpu> {
    let x = dev.tensor([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]) * scale;
    let y = net.forward(x.traced(net.alloc_grads()));
    y.square().mean().backward()
}

fn weights(net: &<Net as BuildOnDevice<Cpu, f32>>::Built) -> Vec<f32> {
    [net.weight.as_vec(), net.bias.as_vec()].concat()
}

#[test]
fn one_update_is_pytorchs_adam() {
    let dev = Cpu::seed_from_u64(0);
    let mut net = dev.build_module::<Net, f32>();
    let before = weights(&net);
    let mut g = grads(&dev, &net, 1.0);
    let gw = [g.get(&net.weight).as_vec(), g.get(&net.bias).as_vec()].concat();
    let mut adam = Adam::new(0.01, 0.5, 0.999);
    adam.update(&mut net, &mut g).unwrap();
    // Step 1: m = (1 - b1) g, v = (1 - b2) g^2, p -= lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + eps).
    for ((p0, p1), g) in before.iter().zip(weights(&net)).zip(gw) {
        let m = 0.5 * g;
        let v = 0.001 * g * g;
        let want = p0 - 0.01 / 0.5 * m / (v.sqrt() / 0.001f32.sqrt() + 1e-8);
        assert!((p1 - want).abs() <= 1e-6 * want.abs().max(1.0), "{p1} vs {want}");
    }
    assert_eq!(adam.t, 1);
    assert_eq!(adam.moments().len(), 2, "weight and bias");
}

#[test]
fn moments_on_the_device_give_the_hosts_updates_and_come_back_for_a_checkpoint() {
    let dev = Cpu::seed_from_u64(0);
    let mut on_host = dev.build_module::<Net, f32>();
    let mut on_device = on_host.clone();
    let (mut a, mut b) = (Adam::new(0.01, 0.5, 0.999), Adam::new(0.01, 0.5, 0.999));
    for step in 0..4 {
        let scale = 1.0 + step as f32;
        {
            let mut g = grads(&dev, &on_host, scale);
            a.update_on_host(&mut on_host, &mut g)
        }
        .unwrap();
        {
            let mut g = grads(&dev, &on_device, scale);
            b.update_on_device(&mut on_device, &mut g)
        }
        .unwrap();
        for (x, y) in weights(&on_host).iter().zip(weights(&on_device)) {
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "step {step}: {x} vs {y}");
        }
    }
    // The device's moments read back (what a checkpoint writes) equal the host's.
    let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(x, y)| (x - y).abs() <= 1e-6 * x.abs().max(1e-3));
    for ((na, ma, va), (nb, mb, vb)) in a.moments().iter().zip(b.moments()) {
        assert_eq!(na, &nb);
        assert!(close(ma, &mb) && close(va, &vb), "{na}: {ma:?} {mb:?} / {va:?} {vb:?}");
    }
    // A checkpoint's moments replace the device's, and the next device update starts from them.
    let mut resumed = Adam::new(0.01, 0.5, 0.999);
    resumed.set_moments(a.moments());
    resumed.t = a.t;
    let mut net = on_host.clone();
    {
        let mut g = grads(&dev, &net, 5.0);
        resumed.update_on_device(&mut net, &mut g)
    }
    .unwrap();
    {
        let mut g = grads(&dev, &on_host, 5.0);
        a.update_on_host(&mut on_host, &mut g)
    }
    .unwrap();
    for (x, y) in weights(&on_host).iter().zip(weights(&net)) {
        assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "resumed: {x} vs {y}");
    }
}

#[test]
fn a_clone_keeps_its_own_device_moments() {
    let dev = Cpu::seed_from_u64(0);
    let mut net = dev.build_module::<Net, f32>();
    let mut adam = Adam::new(0.01, 0.5, 0.999);
    {
        let mut g = grads(&dev, &net, 1.0);
        adam.update_on_device(&mut net, &mut g)
    }
    .unwrap();
    let copy = adam.clone();
    assert_eq!(copy, adam);
    {
        let mut g = grads(&dev, &net, 2.0);
        adam.update_on_device(&mut net, &mut g)
    }
    .unwrap();
    assert_ne!(
        copy.moments(),
        adam.moments(),
        "the update moved the original's moments only"
    );
    assert_eq!(copy.t, 1);
}
