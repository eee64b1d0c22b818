//! Every exception the engine can raise is an exception shape of its service's model, which
//! gives the code a client receives, its HTTP status and its fault. A code the model lacks
//! would reach clients as an error their SDK cannot name.

use aws::model::{self, Service};
use engine::error::{CloudTrailException, CloudWatchException, LogsException, SnsException};

fn assert_modelled(service: &Service, names: &[&str]) {
    for name in names {
        let shape = service.shapes.get(*name);
        assert!(
            shape.is_some_and(|s| s.exception),
            "{name} is not an exception shape of the {} model",
            service.api_version
        );
    }
}

#[test]
fn logs_exceptions_are_in_the_logs_model() {
    let names: Vec<&str> = LogsException::ALL.iter().map(|e| e.name()).collect();
    assert_modelled(model::logs(), &names);
}

#[test]
fn cloudwatch_exceptions_are_in_the_cloudwatch_model() {
    let names: Vec<&str> = CloudWatchException::ALL.iter().map(|e| e.name()).collect();
    assert_modelled(model::cloudwatch(), &names);
}

#[test]
fn sns_exceptions_are_in_the_sns_model() {
    let names: Vec<&str> = SnsException::ALL.iter().map(|e| e.name()).collect();
    assert_modelled(model::sns(), &names);
}

#[test]
fn cloudtrail_exceptions_are_in_the_cloudtrail_model() {
    let names: Vec<&str> = CloudTrailException::ALL.iter().map(|e| e.name()).collect();
    assert_modelled(model::cloudtrail(), &names);
}

#[test]
fn a_name_outside_the_model_is_caught() {
    // The check itself can fail: SNS's `NotFoundException` is no shape of CloudWatch's.
    let outcome =
        std::panic::catch_unwind(|| assert_modelled(model::cloudwatch(), &["NotFoundException"]));
    assert!(outcome.is_err());
}
